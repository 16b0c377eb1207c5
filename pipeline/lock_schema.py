"""The typed ``rebuild.lock.json``: what every reader of a finished run uses instead of a dict.

API::

    lock = RunLock.read(run_dir)            # read and validate <run_dir>/rebuild.lock.json
    lock = RunLock.from_dict(data, where)   # validate a lock already in memory (``where`` names it)
    lock.recipe.name, lock.recipe.sha256, lock.optout.as_of if lock.optout else None
    for source_id, source in lock.sources.items():
        source.documents.read, source.documents.kept, source.documents.removed["robots"]
        source.tokens.kept, source.steps.optout, source.pinned_revision
    lock.to_dict()                          # back to the JSON shape ``pipeline.lock`` writes

``pipeline.lock`` writes the lock (and stays the only writer); this module only reads it. It is
typed for what documents read and permissive for the rest: every model accepts keys it does not
know (``extra="allow"``), and fields added after version 2 (the tokenizer's version, a source's
text extractor or epochs) are optional, so locks written by newer rebuilds still read. A lock
that lacks a field a document needs, or holds a value of the wrong type, raises ``LockError``
naming the file and the field (``sources.web.documents.kept: Field required``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from apertus_compliance.pipeline.lock import LOCK_FORMAT, LOCK_NAME, READABLE_VERSIONS, LockError

__all__ = [
    "BudgetDecision",
    "DeletionListEntry",
    "DocumentCounts",
    "DocumentsEntry",
    "ExecutorEntry",
    "ExtractorEntry",
    "HashedFile",
    "InputFile",
    "LockedRecipe",
    "OptOutEntry",
    "RemovedShard",
    "RunLock",
    "Shard",
    "SourceEntry",
    "SourceSteps",
    "TokenCounts",
    "TokenizerEntry",
]


class _Entry(BaseModel):
    """Typed for the fields readers use; keys added by newer rebuilds are kept, not refused."""

    model_config = ConfigDict(extra="allow", frozen=True)


class LockedRecipe(_Entry):
    name: str
    path: str
    sha256: str
    seed: int
    bundled: str | None = None
    """The name of a recipe shipped with the package (``sample``); None for a recipe file of one's own."""
    text: str | None = None
    """The recipe's text (version 2); a version 1 lock has none."""


class HashedFile(_Entry):
    path: str
    sha256: str


class TokenizerEntry(_Entry):
    name: str
    kind: str | None = None
    """``fallback`` (bytes / 4), ``file`` or ``hub``."""
    sha256: str | None = None
    version: str | None = None


class OptOutEntry(_Entry):
    snapshot_id: str
    as_of: str
    agent_list: str
    granularity: str
    strict: bool = False


class DeletionListEntry(_Entry):
    list_version: str
    created: str
    payload_sha256: str
    signing_key_id: str


class ExecutorEntry(_Entry):
    name: str
    workers: int


class SourceSteps(_Entry):
    optout: bool
    pii: bool
    public_ip_only: bool = False
    filters: list[str] = Field(default_factory=list)
    """Ids of the recipe filters that ran on the source, in order."""


class DocumentCounts(_Entry):
    read: int
    kept: int
    removed: dict[str, int]
    """Documents removed per reason (an opt-out signal, ``invalid``, a filter id, ``budget``...)."""


class TokenCounts(_Entry):
    kept: int
    """Tokens of the kept documents, each counted once (the shards' sum)."""
    removed: dict[str, int]
    target: int | None = None
    """The source's token budget; None for a source without one."""
    kept_with_repetition: int | None = None
    """``kept`` times the source's ``epochs`` (locks before repetition existed have none)."""


class BudgetDecision(_Entry):
    binding: bool = False
    """True when the candidates exceeded the budget, so the sampler cut documents."""
    candidates: int | None = None
    candidate_tokens: int | None = None


class InputFile(_Entry):
    """A local file (pinned by ``sha256``) or a hub file (pinned by its resolved ``revision``)."""

    path: str
    size: int | None = None
    sha256: str | None = None
    revision: str | None = None


class ExtractorEntry(_Entry):
    """The HTML-to-text extractor of a WARC source, whose version decides the text."""

    name: str
    version: str | None = None


class SourceEntry(_Entry):
    content_type: str
    documents: DocumentCounts
    tokens: TokenCounts
    steps: SourceSteps
    location: str | None = None
    dataset: str | None = None
    revision: str | None = None
    """The revision the recipe asked for (``main``); see :attr:`pinned_revision` for the one read."""
    homepage: str | None = None
    license: str | None = None
    crawled_by_provider: bool = False
    format: str | None = None
    tasks: int | None = None
    inputs: list[InputFile] = Field(default_factory=list)
    budget: BudgetDecision = Field(default_factory=BudgetDecision)
    epochs: int = 1
    """How many times the trainer sees each kept document (StarCoder twice in Apertus's Stage 5)."""
    extractor: ExtractorEntry | None = None
    """WARC sources: the main-text extractor and its version."""
    deletion_list_redactions: int | None = None
    """Redactions made by the deletion list in this source; None when no list applied to it."""

    @property
    def pinned_revision(self) -> str | None:
        """The hub revision the inputs were read at (the resolved commit, not ``main``), when all
        inputs share one; else the recipe's revision."""
        revisions = {item.revision for item in self.inputs if item.revision}
        return revisions.pop() if len(revisions) == 1 else self.revision


class Shard(_Entry):
    path: str
    sha256: str
    documents: int
    tokens: int

    @property
    def source_id(self) -> str:
        """``mixture/<source>/00000.parquet`` or ``removed/<reason>/<source>/...``: the source's id."""
        return self.path.split("/")[-2]


class RemovedShard(Shard):
    reason: str


class DocumentsEntry(_Entry):
    provider: HashedFile
    complete: bool = False
    files: list[HashedFile] = Field(default_factory=list)


class RunLock(_Entry):
    """A run's lock, validated. Frozen: readers never change a run's record."""

    format: Literal["apertus-compliance/rebuild-lock"]
    format_version: int
    recipe: LockedRecipe
    tokenizer: TokenizerEntry
    sources: dict[str, SourceEntry]
    outputs: list[Shard]
    removed: list[RemovedShard]
    optout: OptOutEntry | None = None
    deletion_list: DeletionListEntry | None = None
    executor: ExecutorEntry | None = None
    versions: dict[str, str] = Field(default_factory=dict)
    references: dict[str, HashedFile] = Field(default_factory=dict)
    documents: DocumentsEntry | None = None

    @classmethod
    def from_dict(cls, data: object, where: str = LOCK_NAME) -> RunLock:
        """Validate a lock held in memory; ``where`` names it in errors (a file, a run folder)."""
        if not isinstance(data, dict):
            raise LockError(f"{where}: a lock is a JSON object, not {type(data).__name__}")
        if data.get("format") != LOCK_FORMAT or data.get("format_version") not in READABLE_VERSIONS:
            raise LockError(
                f"{where}: format {data.get('format')!r} v{data.get('format_version')}, "
                f"expected {LOCK_FORMAT} v{' or v'.join(map(str, READABLE_VERSIONS))}"
            )
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            problems = [
                f"{'.'.join(map(str, problem['loc'])) or '(top level)'}: {problem['msg']}" for problem in error.errors()
            ]
            raise LockError(f"{where}: " + "; ".join(problems[:8]) + (" ..." if len(problems) > 8 else "")) from error

    @classmethod
    def read(cls, run_dir: str | Path) -> RunLock:
        """The lock of the run at ``run_dir``; ``LockError`` names the file and every wrong field."""
        path = Path(run_dir) / LOCK_NAME
        if not path.is_file():
            raise LockError(f"{run_dir}: no {LOCK_NAME} (not a finished rebuild)")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise LockError(f"{path}: not readable JSON ({error})") from error
        return cls.from_dict(data, str(path))

    def to_dict(self) -> dict:
        """The lock as JSON data, in the shape ``pipeline.lock`` writes (for its dict-based checks)."""
        return self.model_dump(mode="json", exclude_unset=True)
