"""Mixture recipes: a YAML file, validated by pydantic, that says what to rebuild and how.

A recipe names its sources (where, which format, which fields), what each source goes through
(opt-out, PII masking, extra datatrove filters), a token budget per source, the seed of the
sampler, the tokenizer that counts tokens and the opt-out snapshot. Unknown keys are errors, and
so is anything that cannot work (an impossible budget, a missing file): the run must fail before
it starts, never half-way.
"""

from __future__ import annotations

import functools
import glob
import hashlib
import importlib
import os
import re
from datetime import date
from importlib.resources import files as package_files
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from apertus_compliance.errors import ApertusError

if TYPE_CHECKING:
    import jinja2

HF_LOCATION = re.compile(r"^hf://datasets/(?P<repo>[^/@]+/[^/@]+)(?:@(?P<revision>[^/]+))?/(?P<glob>.+)$")
FORMATS = ("parquet", "jsonl", "warc")
SOURCE_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
FALLBACK_TOKENIZER = "utf8-bytes/4"
"""Token counter used when the recipe names no tokenizer: ceil(UTF-8 bytes / 4), the usual rule of
thumb for BPE vocabularies. It is recorded in the lock, so nobody mistakes it for real counts."""


class RecipeError(ApertusError, ValueError):
    """A recipe that cannot run; the message names the file and the field."""


def _folder_name(value: str) -> str:
    if not SOURCE_ID.match(value):
        raise ValueError(f"{value!r} is not a lower-case folder name (letters, digits, . _ -)")
    return value


FolderName = Annotated[str, AfterValidator(_folder_name)]
"""Source and filter ids name folders under mixture/ and removed/."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Fields(_Strict):
    """Which column of the source holds what; ``None`` where the source has no such column."""

    text: str = "text"
    id: str | None = "id"
    url: str | None = "url"
    date: str | None = "date"
    language: str | None = "language"


class ExtraFilter(_Strict):
    """A datatrove filter (any ``BaseFilter`` subclass, by import path) run after PII masking.

    Documents it drops go to ``removed/<id>/`` with datatrove's own reason as the detail.
    """

    id: FolderName
    step: str
    args: dict = Field(default_factory=dict)

    def build(self, **kwargs: object) -> object:
        """Instantiate the filter; an import path that is not a datatrove filter is an error."""
        from datatrove.pipeline.filters.base_filter import BaseFilter

        module_name, _, class_name = self.step.rpartition(".")
        try:
            step_class = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError, ValueError) as error:
            raise RecipeError(f"filter {self.id}: cannot import {self.step!r} ({error})") from error
        if not (isinstance(step_class, type) and issubclass(step_class, BaseFilter)):
            raise RecipeError(f"filter {self.id}: {self.step} is not a datatrove BaseFilter")
        try:
            return step_class(**self.args, **kwargs)
        except TypeError as error:
            raise RecipeError(f"filter {self.id}: bad arguments for {self.step}: {error}") from error


@functools.lru_cache(maxsize=64)
def compiled_template(template: str) -> jinja2.Template:
    """A text template compiled once per process: Jinja2's immutable sandbox (no attribute tricks,
    no mutation), undefined names are errors rather than empty strings, no autoescaping."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    environment = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    return environment.from_string(template)


@functools.lru_cache(maxsize=64)
def _template_fields(template: str) -> tuple[tuple[str, ...], frozenset[str]]:
    """The template's top-level names, and those it tests with ``is defined`` (optional fields)."""
    from jinja2 import meta, nodes
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    tree = ImmutableSandboxedEnvironment().parse(template)
    optional = frozenset(
        test.node.name
        for test in tree.find_all(nodes.Test)
        if test.name in ("defined", "undefined") and isinstance(test.node, nodes.Name)
    )
    return tuple(sorted(meta.find_undeclared_variables(tree))), optional


def template_fields(template: str, where: str) -> list[str]:
    """The row fields a text template reads (its top-level names), checked: a template that does not
    parse, or reads no field (every document would be the same text), is an error naming ``where``."""
    from jinja2 import TemplateSyntaxError

    try:
        names, _ = _template_fields(template)
        compiled_template(template)
    except TemplateSyntaxError as error:
        raise ValueError(f"{where}: not a valid Jinja2 template ({error.message}, line {error.lineno})") from error
    if not names:
        raise ValueError(f"{where}: {template!r} uses no field of the row")
    return list(names)


class Source(_Strict):
    id: FolderName
    content_type: Literal[
        "web", "educational-web", "code", "math", "encyclopedia", "parallel", "instruction", "synthetic", "other"
    ] = "web"
    """What the documents are, for the EU summary's types of content and the dataset card."""
    dataset: str | None = None
    """The public dataset's name as its publisher gives it (a hub id, 'Wikipedia'), for section 2.1."""
    homepage: str | None = None
    license: str | None = None
    crawled_by_provider: bool = False
    """True when the provider crawled these pages itself (EU summary section 2.3 then applies)."""
    location: str
    """A local glob (relative to the recipe's folder) or ``hf://datasets/ORG/NAME@REVISION/GLOB``."""
    format: Literal["parquet", "jsonl", "warc"]
    fields: Fields = Field(default_factory=Fields)
    target_tokens: int
    optout: bool = True
    pii: bool = True
    """Mask emails, IPs and IBANs. Apertus masked web text, not code or math (false positives)."""
    public_ip_only: bool = False
    filters: list[ExtraFilter] = Field(default_factory=list)
    deletion_list: bool = True
    """Redact the recipe's deletion list from this source (when the recipe names one)."""
    tasks: int | None = None
    """datatrove tasks for this source; default one per input file. Fixed tasks fix the output."""
    text_template: str | None = None
    """For structured rows: the document text as a Jinja2 template over the row's fields (sandboxed,
    undefined fields are errors), e.g. ``{{ title }}\n\n{{ body }}``; replaces ``fields.text``."""
    epochs: int = 1
    """How many times a trainer sees each kept document (Apertus: StarCoder twice). The budget counts
    every repetition; the mixture holds each document once and the lock records ``epochs``."""

    @field_validator("target_tokens")
    @classmethod
    def _positive_budget(cls, value: int) -> int:
        if value <= 0:
            raise ValueError(f"a token budget must be positive, got {value}")
        return value

    @field_validator("epochs")
    @classmethod
    def _at_least_one_epoch(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"epochs must be at least 1, got {value}")
        return value

    @model_validator(mode="after")
    def _url_when_filtering(self) -> Source:
        if self.optout and self.fields.url is None:
            raise ValueError("optout is on but fields.url is null: opt-outs are decided per URL")
        if self.format == "warc" and (self.fields != Fields() or self.text_template is not None):
            raise ValueError(
                "fields and text_template cannot be set for warc: text, url, date and id come from the records"
            )
        if self.text_template is not None:
            if "text" in self.fields.model_fields_set:
                raise ValueError(
                    f"source {self.id}: give fields.text or text_template, not both (the template makes the text)"
                )
            template_fields(self.text_template, f"source {self.id}: text_template")
        return self

    @property
    def unique_target_tokens(self) -> int:
        """The budget in distinct tokens: each kept token counts ``epochs`` times toward ``target_tokens``."""
        return -(-self.target_tokens // self.epochs)

    @property
    def text_columns(self) -> list[str]:
        """The row fields the document text comes from: the template's fields, else ``fields.text``."""
        if self.text_template is None:
            return [self.fields.text]
        return template_fields(self.text_template, f"source {self.id}: text_template")

    @property
    def required_text_columns(self) -> list[str]:
        """The text columns every input must have: all but the template's ``is defined`` ones."""
        optional = _template_fields(self.text_template)[1] if self.text_template is not None else frozenset()
        return [column for column in self.text_columns if column not in optional]

    @property
    def hub(self) -> dict | None:
        """``{"repo", "revision", "glob"}`` for an ``hf://`` location, else None."""
        matched = HF_LOCATION.match(self.location)
        return matched.groupdict() | {"revision": matched["revision"] or "main"} if matched else None


class OptOut(_Strict):
    """Which opt-out snapshot the run uses: a compiled one, or one compiled from a registry."""

    snapshot: str | None = None
    registry: str | None = None
    """A registry DuckDB file, or ``bundled-sample`` for the signals shipped with the package."""
    as_of: date | None = None
    agents: str = "apertus-2025-01"
    granularity: Literal["url", "domain"] = "url"
    strict: bool = False

    @model_validator(mode="after")
    def _one_origin(self) -> OptOut:
        if (self.snapshot is None) == (self.registry is None):
            raise ValueError("give exactly one of snapshot (a compiled snapshot folder) or registry")
        if self.registry is not None and self.as_of is None:
            raise ValueError("a registry needs as_of: the date whose observations count")
        return self


class DeletionListConfig(_Strict):
    """A signed deletion-list release applied to training text too, so a data subject's request
    reaches the data as well as the outputs."""

    release: str
    public_key: str


class SlurmSettings(_Strict):
    """sbatch settings for ``rebuild --executor slurm`` (see the README)."""

    partition: str | None = None
    """Required to submit."""
    time: str = "24:00:00"
    cpus_per_task: int = 1
    mem_per_cpu_gb: int = 2
    qos: str | None = None
    env_command: str | None = None
    """Shell line that sets up the environment on the compute node (default: activate this virtualenv)."""
    sbatch_args: dict[str, str] = Field(default_factory=dict)
    """Any other ``#SBATCH --key=value`` lines (account, constraint, ...)."""


class RaySettings(_Strict):
    """Where the Ray cluster is and what one long-lived worker reserves on it (once for the whole
    rebuild: ``cpus_per_task`` CPUs and ``mem_per_cpu_gb`` GB per CPU; each worker runs many tasks)."""

    address: str | None = None
    """A running cluster (``ray://host:10001`` or ``host:6379``); None: ``RAY_ADDRESS``, else a local
    cluster started for the run with ``workers`` CPUs."""
    cpus_per_task: int = 1
    mem_per_cpu_gb: float = 2


class Executor(_Strict):
    name: Literal["local", "slurm", "ray"] = "local"
    workers: int = 1
    slurm: SlurmSettings = Field(default_factory=SlurmSettings)
    ray: RaySettings = Field(default_factory=RaySettings)

    @field_validator("workers")
    @classmethod
    def _positive_workers(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"workers must be at least 1, got {value}")
        return value


class Recipe(_Strict):
    name: str
    description: str = ""
    seed: int
    tokenizer: str | None = None
    """A tokenizer.json path (relative to the recipe) or a hub id; None counts with the fallback."""
    total_tokens: int | None = None
    """Optional check: the per-source budgets must add up to this."""
    optout: OptOut | None = None
    deletion_list: DeletionListConfig | None = None
    executor: Executor = Field(default_factory=Executor)
    sources: list[Source]

    @model_validator(mode="after")
    def _consistent(self) -> Recipe:
        if not self.sources:
            raise ValueError("a recipe needs at least one source")
        ids = [source.id for source in self.sources]
        if duplicated := sorted({source_id for source_id in ids if ids.count(source_id) > 1}):
            raise ValueError(f"source ids must be unique: {', '.join(duplicated)}")
        budget = sum(source.target_tokens for source in self.sources)
        if self.total_tokens is not None and budget != self.total_tokens:
            raise ValueError(f"the sources' target_tokens add up to {budget:,}, not total_tokens {self.total_tokens:,}")
        if self.optout is None and any(source.optout for source in self.sources):
            raise ValueError("sources have optout on but the recipe has no optout section")
        return self


class LoadedRecipe(BaseModel):
    """A recipe with where it came from: relative paths resolve against its folder.

    ``bundled`` is the name of a recipe shipped with the package (``sample``); such a recipe is
    found again by name wherever the package is installed, so a lock that names it stays valid.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    recipe: Recipe
    path: Path
    text: str
    bundled: str | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    @property
    def folder(self) -> Path:
        return self.path.parent

    def resolve(self, relative: str) -> Path:
        return (self.folder / relative).resolve()

    def input_files(self, source: Source) -> list[Path]:
        """The local files of ``source`` by real path, sorted and each once: a file reached twice (through
        a ``latest -> v1`` symlink) is read once. A symlink loop under a ``**`` is an error naming the
        link, and so is an empty match, naming the glob."""
        if source.hub:
            raise RecipeError(f"source {source.id}: {source.location} is on the hub, not local")
        pattern = str(self.folder / source.location)
        for root in _recursive_roots(pattern):
            if loop := _symlink_loop(root):
                raise RecipeError(
                    f"source {source.id}: {loop} is a symlink loop (it points to {loop.resolve()}, which "
                    f"contains it): {source.location} would read the same files again and again; remove the link"
                )
        files = sorted({Path(name).resolve() for name in glob.glob(pattern, recursive=True) if Path(name).is_file()})
        if not files:
            raise RecipeError(f"source {source.id}: no files match {source.location} (looked for {pattern})")
        return files


def _recursive_roots(pattern: str) -> list[Path]:
    """The folders a glob's first ``**`` walks (none for a pattern without ``**``)."""
    parts = Path(pattern).parts
    recursive = next((index for index, part in enumerate(parts) if "**" in part), None)
    if recursive is None:
        return []
    prefix = str(Path(*parts[:recursive]))
    roots = glob.glob(prefix) if glob.has_magic(prefix) else [prefix]
    return [Path(root) for root in sorted(roots) if Path(root).is_dir()]


def _symlink_loop(root: Path) -> Path | None:
    """The first symlinked folder under ``root`` that leads back to one of its own ancestors, if any.

    ``glob``'s ``**`` follows symlinked folders and stops only when the path gets too long (40 levels
    here), so a loop multiplies every file under it; two loops side by side never finish. Hidden
    folders are skipped, as ``**`` skips them.
    """
    stack = [(root, (root.resolve(),))]
    while stack:
        folder, ancestors = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError:
            continue  # unreadable: glob skips it too
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_dir():
                continue
            real = Path(entry.path).resolve()
            if real in ancestors:
                return Path(entry.path)
            stack.append((Path(entry.path), (*ancestors, real)))
    return None


BUNDLED_RECIPES = {"sample": "sample.yaml", "phase5": "apertus-phase5.yaml"}
"""Recipes shipped with the package, by the name ``rebuild --recipe NAME`` takes."""


def _bundled_name(name: str) -> str | None:
    """``sample``, ``phase5`` or a shipped file's stem (``apertus-phase5``) -> its name; else None."""
    if name in BUNDLED_RECIPES:
        return name
    return next((key for key, file in BUNDLED_RECIPES.items() if Path(file).stem == name), None)


def bundled_recipe(name: str = "sample") -> Path:
    """The file of a recipe shipped with the package, found through the installed package
    (``importlib.resources``), never through a source checkout."""
    key = _bundled_name(name)
    if key is None:
        raise RecipeError(f"recipe {name!r}: not a bundled recipe ({', '.join(BUNDLED_RECIPES)})")
    return Path(str(package_files("apertus_compliance") / "recipes" / BUNDLED_RECIPES[key]))


def find_recipe(name_or_path: str | Path) -> tuple[Path, str | None]:
    """A recipe file and, when it is one shipped with the package, its bundled name.

    An existing file wins; otherwise a bundled name (``sample``, ``phase5``) is looked up in the
    installed package. Anything else is an error that lists the bundled names.
    """
    path = Path(name_or_path)
    if not path.exists():
        key = _bundled_name(str(name_or_path))
        if key is None:
            raise RecipeError(
                f"recipe {name_or_path}: no such file, and not a bundled recipe ({', '.join(BUNDLED_RECIPES)})"
            )
        return bundled_recipe(key).resolve(), key
    path = path.resolve()
    shipped = {bundled_recipe(key).resolve(): key for key in BUNDLED_RECIPES}
    return path, shipped.get(path)


def load_recipe(path: str | Path) -> LoadedRecipe:
    """Read and validate a recipe (a file, or a bundled name); every problem names the file and the field."""
    path, bundled = find_recipe(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RecipeError(f"recipe {path}: cannot read it ({error})") from error
    return recipe_from_text(text, path, bundled)


def recipe_from_text(text: str, path: str | Path, bundled: str | None = None) -> LoadedRecipe:
    """Validate recipe ``text`` as if read from ``path`` (its folder is where relative paths point):
    how ``verify`` runs the recipe a lock carries, with no recipe file needed."""
    path = Path(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise RecipeError(f"recipe {path}: not valid YAML ({error})") from error
    if not isinstance(data, dict):
        raise RecipeError(f"recipe {path}: expected a mapping at the top level")
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or '(top level)'}: {problem['msg']}"
            for problem in error.errors()
        )
        raise RecipeError(f"recipe {path}: {problems}") from error
    return LoadedRecipe(recipe=recipe, path=path, text=text, bundled=bundled)
