"""The training inventory: everything that trained a set of models, in one YAML file.

The EU Public Summary of Training Content covers the *model*, not one data run: every
pre-training stage, every post-training stage, every dataset. The inventory is where a provider
states them: who the provider is, which versioned models the summary covers, and the stages
that trained them, each a list of sources. A source is either a rebuild run of this toolkit
(``run: PATH``: its facts are computed from its verified lock and shards) or a declared dataset
(name, link, pinned version, licence, modality, size, collection period and its *kind*, which
decides the template section it belongs to). Measures (classifiers, decontamination, PII
removal...) are declared per stage with what they target; the provider's own answers (the
copyright policy of 3.1, the other information of 3.3, comments) are declared once.

Public API (stable; the other documents read it)::

    inventory = load_inventory("data/inventories/apertus.yaml")   # InventoryError names the field
    inventory = load_inventory(path, runs={"pretraining": Path("run/")})  # add a run to a stage
    inventory = inventory_from_provider(provider, [run_dir, ...])  # the --run/--provider form
    inventory.provider.name, inventory.models[0].name, inventory.stages[0].sources
    inventory.run_dirs()                    # every rebuild run the inventory points to
    bundled_inventory("apertus")            # data/inventories/apertus.yaml

Models: :class:`Inventory`, :class:`ProviderDetails`, :class:`Crawling`, :class:`Model`,
:class:`Stage`, :class:`DatasetSource`, :class:`RunSource`, :class:`Measure`, :class:`Size`,
:class:`Period`, :class:`GeneratingModel`, :class:`Declarations`. Run paths are resolved
against the inventory file's folder at load time.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from apertus_compliance.errors import ApertusError
from apertus_compliance.paths import bundled_data

if TYPE_CHECKING:
    from apertus_compliance.manifests.provider import Provider

__all__ = [
    "KINDS",
    "MODALITIES",
    "TARGETS",
    "Crawling",
    "DatasetSource",
    "Declarations",
    "GeneratingModel",
    "Inventory",
    "InventoryError",
    "Measure",
    "Model",
    "Period",
    "ProviderDetails",
    "RunSource",
    "Size",
    "Stage",
    "bundled_inventory",
    "inventory_from_provider",
    "load_inventory",
    "validate_inventory",
]

Kind = Literal[
    "public",
    "commercially-licensed",
    "private-third-party",
    "crawled-by-provider",
    "synthetic-by-provider",
    "user-data",
    "other",
]
KINDS: tuple[str, ...] = Kind.__args__
"""Where a source belongs in the template: 2.1, 2.2.1, 2.2.2, 2.3, 2.5, 2.4, 2.6. A public
synthetic dataset made by someone else (EuroBlocks) is ``public``."""
Modality = Literal["text", "image", "video", "audio", "other"]
MODALITIES: tuple[str, ...] = Modality.__args__
Target = Literal[
    "illegal-content",
    "harmful-content",
    "personal-data",
    "copyright",
    "quality",
    "benchmark-contamination",
    "other",
]
TARGETS: tuple[str, ...] = Target.__args__
"""What a measure is for; only ``illegal-content`` measures answer 3.2."""
CommentSection = Literal["1.3", "2.1", "2.2.1", "2.2.2", "2.3", "2.4", "2.5", "2.6", "3.1"]
"""The template's sections with an "Additional comments (optional)" field."""

UNPINNED = frozenset({"main", "master", "head", "latest", "default", "trunk"})
Text = Annotated[str, Field(min_length=1, pattern=r"\S")]
Month = Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")]


class InventoryError(ApertusError, ValueError):
    """An inventory that cannot be used; the message names the file and every wrong field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Size(_Strict):
    """An approximate size: ``{amount: 15000000000000, unit: tokens}``."""

    amount: float = Field(ge=0)
    unit: Text
    """``tokens`` for text (the template's bands are in tokens), ``images``, ``hours``, ``bytes``..."""


class Period(_Strict):
    """When data was collected (months; the template asks for MM/YYYY)."""

    start: Month | None = None
    end: Month

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.start is not None and self.start > self.end:
            raise ValueError(f"start {self.start} is after end {self.end}")
        return self


class GeneratingModel(_Strict):
    """A model that generated synthetic data (2.5): on the market or not (the provider's own)."""

    name: Text
    on_market: bool
    link: str | None = None


class Crawling(_Strict):
    """Section 2.3: the provider's own crawlers, when it crawled or scraped online sources."""

    crawlers: list[Text] = Field(min_length=1)
    """Names / user-agent identifiers."""
    purposes: Text
    behaviour: Text
    """How the crawlers behave: robots.txt per RFC 9309, other protocols, rate limits."""
    period: Period
    content: Text
    """Comprehensive description of the type of content and online sources crawled."""
    top_domains: list[Text] = Field(default_factory=list)
    """Most relevant domain names of crawls made outside this toolkit's runs (the runs' own are computed)."""


class ProviderDetails(_Strict):
    """1.1 and the provider's status: who places the models on the Union market."""

    name: Text
    address: str | None = None
    website: str | None = None
    contact: Text
    """Email or other contact for the summary."""
    authorised_representative: Text
    """Name and contact of the EU representative, or ``N/A`` when none is needed."""
    complaint_contact: Text
    """Where rights holders send complaints (Code of Practice, copyright chapter)."""
    code_of_practice_signatory: bool
    """Signed the Code of Practice (with its copyright commitments)? Answers 3.1."""
    sme: bool
    """An SME or startup: the top-domain list of 2.3 is then 5% or 1,000 domains, whichever is lower."""
    crawling: Crawling | None = None


class Model(_Strict):
    """One versioned model the summary covers (1.2)."""

    name: Text
    version: Text
    placed_on_market: date
    link: str | None = None
    dependencies: list[Text] = Field(default_factory=list)
    """Models this one builds on (fine-tuned or distilled from); empty when trained from scratch."""


def _check_pinned(value: str | None) -> str | None:
    if value is not None and value.strip().lower() in UNPINNED:
        raise ValueError(f"{value!r} is a branch, not a pinned version: give a tag or a commit")
    return value


class DatasetSource(_Strict):
    """A dataset declared by the provider (facts the provider states, not computed)."""

    name: Text
    kind: Kind
    link: str | None = None
    version: str | None = None
    """A pinned version or revision (tag, commit); never a branch such as ``main``."""
    licence: str | None = None
    modality: Modality = "text"
    size: Size | None = None
    collected: Period | None = None
    description: str | None = None
    """What it is, in a sentence (printed where the template asks for a general description)."""
    group: str | None = None
    """A heading the 2.1 list groups it under (``English datasets``)."""
    large: bool | None = None
    """Large (over 3% of the public data of its modality), only where sizes cannot decide it."""
    generating_models: list[GeneratingModel] = Field(default_factory=list)
    """``synthetic-by-provider``: the models that generated it."""
    user_data_origin: Literal["model-interactions", "other-services"] | None = None
    """``user-data``: from interactions with the model, or with the provider's other services."""
    services: str | None = None
    """``user-data`` from other services: the services or products that collected it."""
    publicly_known: bool = True
    """``private-third-party``: whether the dataset may be named (2.2.2 lists the known ones)."""

    @field_validator("version")
    @classmethod
    def _pinned(cls, value: str | None) -> str | None:
        return _check_pinned(value)

    @model_validator(mode="after")
    def _kind_fields(self) -> DatasetSource:
        if self.kind == "synthetic-by-provider" and not self.generating_models:
            raise ValueError("generating_models: a synthetic-by-provider dataset names the models that generated it")
        if self.kind != "synthetic-by-provider" and self.generating_models:
            raise ValueError(f"generating_models: only for kind synthetic-by-provider, not {self.kind}")
        if self.kind == "user-data":
            if self.user_data_origin is None:
                raise ValueError("user_data_origin: model-interactions or other-services, for kind user-data")
            if self.user_data_origin == "other-services" and not self.services:
                raise ValueError("services: describe the services or products that collected the user data")
        elif self.user_data_origin is not None or self.services is not None:
            raise ValueError(f"user_data_origin/services: only for kind user-data, not {self.kind}")
        if self.kind == "other" and not self.description:
            raise ValueError("description: a source of kind other is described in 2.6")
        return self


class RunOverride(_Strict):
    """What a run cannot know about one of its sources: its kind beyond public/crawled, a group."""

    kind: (
        Literal[
            "public", "commercially-licensed", "private-third-party", "crawled-by-provider", "synthetic-by-provider"
        ]
        | None
    ) = None
    group: str | None = None
    description: str | None = None
    generating_models: list[GeneratingModel] = Field(default_factory=list)

    @model_validator(mode="after")
    def _generators(self) -> RunOverride:
        if (self.kind == "synthetic-by-provider") != bool(self.generating_models):
            raise ValueError("generating_models: given exactly when kind is synthetic-by-provider")
        return self


class RunSource(_Strict):
    """A rebuild run of this toolkit; its sources are public datasets (2.1) or, when the recipe
    marks them ``crawled_by_provider``, the provider's crawl (2.3), unless ``sources`` says more."""

    run: Path
    sources: dict[str, RunOverride] = Field(default_factory=dict)
    """Per source id of the run: overrides (``{parallel: {kind: synthetic-by-provider, ...}}``)."""


def _source_tag(value: object) -> str:
    if isinstance(value, dict):
        return "run" if "run" in value else "dataset"
    return "run" if isinstance(value, RunSource) else "dataset"


Source = Annotated[
    Annotated[DatasetSource, Tag("dataset")] | Annotated[RunSource, Tag("run")], Discriminator(_source_tag)
]


class Measure(_Strict):
    """A measure applied in a stage: a classifier, decontamination, PII removal, a training loss."""

    name: Text
    description: Text
    targets: list[Target] = Field(min_length=1)
    link: str | None = None


class Stage(_Strict):
    """One training stage (a pre-training phase, supervised fine-tuning, alignment)."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")]
    """A short name (``pretraining``); ``--run ID=PATH`` adds a run to this stage."""
    name: Text
    phase: Literal["pre-training", "post-training"]
    models: list[Text] | None = None
    """Names of the models this stage trained; all models when not given."""
    size: Size | None = None
    """The data the stage trained on (repeats counted); when absent, the sum of its sources' sizes."""
    sources: list[Source] = Field(min_length=1)
    measures: list[Measure] = Field(default_factory=list)


class Declarations(_Strict):
    """The provider's own answers, printed as given (the tool adds the computed facts beside them)."""

    tdm_measures: Text
    """3.1: measures to respect reservations of rights before and during data collection."""
    types_of_content: str | None = None
    latest_acquisition: str | None = None
    linguistic_characteristics: str | None = None
    other_characteristics: str | None = None
    public_datasets: str | None = None
    """2.1: text before the list of large datasets (where the data comes from, how it was used)."""
    other_public_datasets: str | None = None
    """2.1: general description of the other (not large) public datasets."""
    private_datasets: str | None = None
    """2.2.2: general description of the non-publicly known private datasets."""
    other_information: str | None = None
    """3.3: other relevant information about data processing."""
    comments: dict[CommentSection, Text] = Field(default_factory=dict)
    """The "Additional comments (optional)" of each section that has one."""

    @field_validator("comments", mode="before")
    @classmethod
    def _section_numbers(cls, value: object) -> object:
        """``1.3:`` unquoted in YAML is a number; the section is its text."""
        return {str(key): text for key, text in value.items()} if isinstance(value, dict) else value


class SummaryVersion(_Strict):
    version: Text
    last_update: date


class Inventory(_Strict):
    """Everything that trained the models: the input of the EU Public Summary."""

    summary: SummaryVersion
    provider: ProviderDetails
    models: list[Model] = Field(min_length=1)
    stages: list[Stage] = Field(min_length=1)
    declarations: Declarations

    @model_validator(mode="after")
    def _consistent(self) -> Inventory:
        names = [model.name for model in self.models]
        if len(set(names)) != len(names):
            raise ValueError("models: a model is listed twice")
        ids = [stage.id for stage in self.stages]
        if len(set(ids)) != len(ids):
            raise ValueError("stages: two stages share an id")
        for number, stage in enumerate(self.stages):
            unknown = sorted(set(stage.models or []) - set(names))
            if unknown:
                raise ValueError(f"stages[{number}].models: {', '.join(unknown)} not among the models")
        crawled = any(
            isinstance(source, DatasetSource) and source.kind == "crawled-by-provider"
            for stage in self.stages
            for source in stage.sources
        )
        if crawled and self.provider.crawling is None:
            raise ValueError("provider.crawling: a source is crawled-by-provider, so 2.3 needs the crawlers")
        return self

    def run_dirs(self) -> list[Path]:
        """Every rebuild run the inventory points to, in order (each once)."""
        found: list[Path] = []
        for stage in self.stages:
            for source in stage.sources:
                if isinstance(source, RunSource) and source.run not in found:
                    found.append(source.run)
        return found

    def with_runs(self, runs: dict[str, Path]) -> Inventory:
        """A copy with a run added to stages by id (``{"pretraining": Path("run/")}``)."""
        unknown = sorted(set(runs) - {stage.id for stage in self.stages})
        if unknown:
            raise InventoryError(
                f"--run {', '.join(unknown)}: no such stage (stages: {', '.join(s.id for s in self.stages)})"
            )
        stages = [
            stage.model_copy(update={"sources": [*stage.sources, RunSource(run=Path(runs[stage.id]).resolve())]})
            if stage.id in runs
            else stage
            for stage in self.stages
        ]
        return self.model_copy(update={"stages": stages})


def _where(location: tuple) -> str:
    """``('stages', 2, 'sources', 4, 'dataset', 'version')`` -> ``stages[2].sources[4].version``."""
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in ("dataset", "run") and text.endswith("]"):
            continue  # the union's tag, not a field
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _message(problem: dict) -> str:
    message = problem["msg"]
    message = re.sub(r"^(Value error|Assertion failed), ", "", message)
    return f"{_where(problem['loc'])}: {message}"


def _resolve_runs(data: object, folder: Path) -> None:
    """Run paths relative to the inventory file's folder, before validation."""
    if not isinstance(data, dict) or not isinstance(data.get("stages"), list):
        return
    for stage in data["stages"]:
        for source in stage.get("sources") or [] if isinstance(stage, dict) else []:
            if isinstance(source, dict) and isinstance(source.get("run"), str):
                source["run"] = str((folder / source["run"]).resolve())


def validate_inventory(data: object, name: str, folder: Path | None = None) -> Inventory:
    """Validate inventory data read from ``name``; every wrong field is named at once."""
    if not isinstance(data, dict):
        raise InventoryError(f"{name}: expected a mapping (summary, provider, models, stages, declarations)")
    if folder is not None:
        _resolve_runs(data, folder)
    try:
        return Inventory.model_validate(data)
    except ValidationError as error:
        raise InventoryError(f"{name}: " + "; ".join(_message(problem) for problem in error.errors())) from error


def load_inventory(path: str | Path, runs: dict[str, Path] | None = None) -> Inventory:
    """Read and validate an inventory file; ``runs`` adds rebuild runs to stages by stage id."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise InventoryError(f"{path}: cannot read it ({error})") from error
    inventory = validate_inventory(data, path.name, path.resolve().parent)
    missing = [str(run) for run in inventory.run_dirs() if not run.is_dir()]
    if missing:
        raise InventoryError(f"{path.name}: run folder(s) not found: {', '.join(missing)}")
    return inventory.with_runs(runs) if runs else inventory


def bundled_inventory(name: str) -> Path:
    """An inventory shipped with the package (``apertus``)."""
    return bundled_data() / "inventories" / f"{name}.yaml"


def _month(text: str) -> str:
    """``MM/YYYY`` (a provider file's format) -> ``YYYY-MM``."""
    match = re.fullmatch(r"(\d{2})/(\d{4})", text.strip())
    return f"{match.group(2)}-{match.group(1)}" if match else text


def inventory_from_provider(provider: Provider, run_dirs: list[Path]) -> Inventory:
    """The ``--run/--provider`` form as an inventory: one stage whose sources are the runs.

    A provider file cannot say which template question user data answers, nor give the
    synthetic-data generators by name: ``user_data: true`` is refused (write an inventory), and
    ``synthetic_data`` marks the runs' synthetic sources as made by the provider with that text."""
    from apertus_compliance.manifests.provider import ProviderError

    if provider.user_data:
        raise ProviderError(
            "provider file: user_data is true, but a provider file cannot say whether it came from "
            "interactions with the model or with other services (2.4); describe it in an inventory "
            "(a source of kind user-data, see docs/eu-summary.md)"
        )
    if not run_dirs:
        raise InventoryError("no runs given: the summary documents at least one finished rebuild")
    crawling = None
    if provider.crawling is not None:
        crawling = Crawling(
            crawlers=provider.crawling.crawlers,
            purposes=provider.crawling.purposes,
            behaviour=provider.crawling.behaviour,
            period=Period(start=_month(provider.crawling.period_start), end=_month(provider.crawling.period_end)),
            content="Web pages collected by the crawlers named above.",
        )
    overrides: dict[str, RunOverride] = {}
    if provider.synthetic_data:
        overrides = {
            source_id: RunOverride(
                kind="synthetic-by-provider",
                generating_models=[GeneratingModel(name=provider.synthetic_data, on_market=False)],
            )
            for source_id in _synthetic_source_ids(run_dirs)
        }
    measures = [
        Measure(name="Provider's measures", description=provider.illegal_content_measures, targets=["illegal-content"])
    ]
    return Inventory(
        summary=SummaryVersion(version="1", last_update=provider.placed_on_market),  # reproducible output
        provider=ProviderDetails(
            name=provider.provider,
            contact=provider.contact,
            authorised_representative=provider.authorised_representative,
            complaint_contact=provider.complaint_contact,
            code_of_practice_signatory=provider.code_of_practice_signatory,
            sme=provider.sme,
            crawling=crawling,
        ),
        models=[
            Model(
                name=model.name,
                version=model.version,
                placed_on_market=provider.placed_on_market,
                dependencies=provider.dependencies,
            )
            for model in provider.models
        ],
        stages=[
            Stage(
                id="training",
                name="Training",
                phase="pre-training",
                sources=[RunSource(run=Path(run_dir).resolve(), sources=overrides) for run_dir in run_dirs],
                measures=measures,
            )
        ],
        declarations=Declarations(
            tdm_measures="Machine-readable reservations of rights were honoured as computed below.",
            other_information=provider.other_information or None,
        ),
    )


def _synthetic_source_ids(run_dirs: list[Path]) -> set[str]:
    from apertus_compliance.pipeline import RunLock

    return {
        source_id
        for run_dir in run_dirs
        for source_id, entry in RunLock.read(run_dir).sources.items()
        if entry.content_type == "synthetic"
    }
