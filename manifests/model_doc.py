"""The Model Documentation Form's data section and the copyright-policy facts (Code of Practice,
July 2025), computed from the runs a model was trained on and the provider file.

Each document is a schema (:class:`ModelDocumentationData`, :class:`CopyrightPolicy`) and a
builder that only computes its fields from :mod:`.facts` (the one set of facts every document
uses) and the provider's declarations; every sentence is in ``templates/`` (``to_markdown``).
A statement about a step is made only when the lock says the step ran, on the sources it ran on.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from apertus_compliance.manifests.facts import (
    PROTOCOLS,
    LanguageShare,
    RunFacts,
    SnapshotFacts,
    TrainingFacts,
    source_kind,
    training_facts,
)
from apertus_compliance.manifests.inventory import (
    KINDS,
    MODALITIES,
    Crawling,
    DatasetSource,
    Inventory,
    Kind,
    Measure,
    RunSource,
    Size,
)
from apertus_compliance.manifests.render import render
from apertus_compliance.manifests.run import Run

__all__ = [
    "CopyrightPolicy",
    "ModelDocumentationData",
    "copyright_policy",
    "model_documentation",
    "to_markdown",
]


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProvenanceCategory(_Document):
    """One row of the form's provenance question: was data of this kind used, from which sources."""

    kind: Kind
    used: bool
    sources: list[str]
    """``run/source`` labels of rebuild runs and names of declared datasets of this kind."""


class ModelEntry(_Document):
    name: str
    version: str
    placed_on_market: date
    dependencies: list[str]


class StageDocumentation(_Document):
    """One training stage: the runs and declared datasets it trained on, the measures applied."""

    id: str
    name: str
    phase: str
    models: list[str]
    runs: list[str]
    """Labels of the rebuild runs of the stage (their figures are in ``runs``)."""
    size: Size | None
    """The stage's training data as the provider states it (repeats counted), if stated."""
    datasets: list[DatasetSource]
    """Datasets the provider declares for the stage (not computed)."""
    measures: list[Measure]


class ModelDocumentationData(_Document):
    """The data section of the Model Documentation Form (Code of Practice, July 2025)."""

    provider: str
    contact: str
    models: list[ModelEntry]
    modalities: list[str]
    provenance: list[ProvenanceCategory]
    crawling: Crawling | None
    stages: list[StageDocumentation]
    documents: int
    """Kept documents of the rebuild runs (declared datasets give their own sizes)."""
    tokens: int
    tokens_with_repetition: int
    """Tokens as training sees them: sources repeated ``epochs`` times count that often."""
    bytes_kept: int
    """UTF-8 bytes of the kept texts of the rebuild runs."""
    languages: list[LanguageShare]
    """Natural languages by kept tokens (a parallel document counts half for each side)."""
    programming_languages: list[LanguageShare]
    unlabelled_tokens: int
    content_types: dict[str, int]
    """Kept tokens per content type of the recipes' sources."""
    first_document_date: str | None
    latest_document_date: str | None
    runs: list[RunFacts]

    def to_markdown(self) -> str:
        return render("model_documentation.md.j2", doc=self)


def open_runs(inventory: Inventory, runs: dict[Path, Run] | None = None) -> TrainingFacts:
    """The facts of every rebuild run of ``inventory`` (``runs``: already opened, by folder)."""
    opened = dict(runs or {})
    run_list = [opened.get(run_dir) or Run.open(run_dir) for run_dir in inventory.run_dirs()]
    return training_facts(run_list) if run_list else TrainingFacts(runs=[])


def _run_labels(inventory: Inventory, facts: TrainingFacts) -> dict[Path, str]:
    by_dir = {run.dir: run.label for run in facts.runs}
    return {run_dir: by_dir[run_dir] for run_dir in inventory.run_dirs()}


def _provenance(inventory: Inventory, facts: TrainingFacts) -> list[ProvenanceCategory]:
    by_dir = {run.dir: run for run in facts.runs}
    found: dict[str, list[str]] = {kind: [] for kind in KINDS}
    for stage in inventory.stages:
        for source in stage.sources:
            if isinstance(source, DatasetSource):
                found[source.kind].append(source.name)
                continue
            for item in by_dir[source.run].sources:
                found[source_kind(source, item)].append(item.label)
    return [
        ProvenanceCategory(kind=kind, used=bool(names), sources=list(dict.fromkeys(names)))
        for kind, names in found.items()
    ]


def model_documentation(inventory: Inventory, runs: dict[Path, Run] | None = None) -> ModelDocumentationData:
    """The data section for the models of ``inventory``; rebuild runs in ``runs`` are used as
    opened, the others are opened here (a run whose shards do not match its lock is refused)."""
    facts = open_runs(inventory, runs)
    labels = _run_labels(inventory, facts)
    names = [model.name for model in inventory.models]
    modalities = {"text"} if facts.runs else set()
    modalities |= {
        source.modality for stage in inventory.stages for source in stage.sources if isinstance(source, DatasetSource)
    }
    return ModelDocumentationData(
        provider=inventory.provider.name,
        contact=inventory.provider.contact,
        models=[
            ModelEntry(
                name=model.name,
                version=model.version,
                placed_on_market=model.placed_on_market,
                dependencies=list(model.dependencies),
            )
            for model in inventory.models
        ],
        modalities=[modality for modality in MODALITIES if modality in modalities],
        provenance=_provenance(inventory, facts),
        crawling=inventory.provider.crawling,
        stages=[
            StageDocumentation(
                id=stage.id,
                name=stage.name,
                phase=stage.phase,
                models=list(stage.models or names),
                runs=[labels[source.run] for source in stage.sources if isinstance(source, RunSource)],
                size=stage.size,
                datasets=[source for source in stage.sources if isinstance(source, DatasetSource)],
                measures=list(stage.measures),
            )
            for stage in inventory.stages
        ],
        documents=facts.documents_kept,
        tokens=facts.tokens_kept,
        tokens_with_repetition=facts.tokens_with_repetition,
        bytes_kept=facts.bytes_kept,
        languages=facts.languages(),
        programming_languages=facts.programming_languages(),
        unlabelled_tokens=facts.unlabelled_tokens,
        content_types=facts.content_types(),
        first_document_date=facts.first_date,
        latest_document_date=facts.last_date,
        runs=facts.runs,
    )


# --------------------------------------------------------------------------------------------
# copyright policy facts


class ProtocolHonoured(_Document):
    signal: str
    name: str
    rule: str
    reserving_hosts: int | None
    """Hosts that reserve by this signal in the snapshots (None when a manifest is not at hand)."""
    documents_removed: int


class SnapshotUse(_Document):
    """One run's opt-out snapshot and the sources it filtered."""

    run: str
    snapshot: SnapshotFacts
    sources_filtered: list[str]
    sources_not_filtered: list[str]


class CopyrightPolicy(_Document):
    """What the Code of Practice's copyright chapter asks a provider to state and follow."""

    provider: str
    models: list[str]
    code_of_practice_signatory: bool
    tdm_measures: str
    """The provider's declaration of its measures to respect reservations (verbatim)."""
    protocols: list[ProtocolHonoured]
    agent_tokens: list[str] | None
    """Every robots.txt product token whose Disallow counted, over all runs (``*`` included);
    None when a run's agent list cannot be found."""
    rebuild_runs: int
    """How many rebuild runs the policy's figures come from (0: every source is declared)."""
    snapshots: list[SnapshotUse]
    as_of: list[str]
    strict: bool
    unverifiable_url_removed: int
    """Documents removed because their URL's host could not be read (not opt-outs)."""
    crawling: Crawling | None
    illegal_content_measures: list[Measure]
    """Declared measures that target illegal content, over every stage."""
    complaint_contact: str

    def to_markdown(self) -> str:
        return render("copyright_policy.md.j2", policy=self)


def copyright_policy(inventory: Inventory, runs: dict[Path, Run] | None = None) -> CopyrightPolicy:
    """The copyright-policy facts of the models of ``inventory``."""
    facts = open_runs(inventory, runs)
    uses = [
        SnapshotUse(
            run=run.label,
            snapshot=run.snapshot,
            sources_filtered=[source.id for source in run.sources if source.optout],
            sources_not_filtered=[source.id for source in run.sources if not source.optout],
        )
        for run in facts.runs
        if run.snapshot is not None
    ]
    snapshots = [use.snapshot for use in uses]
    removed = facts.optout_removed()
    strict = any(snapshot.strict for snapshot in snapshots)
    known = all(snapshot.reserving_hosts is not None for snapshot in snapshots)
    protocols = [
        ProtocolHonoured(
            signal=signal,
            name=PROTOCOLS[signal].name,
            rule=PROTOCOLS[signal].rule,
            reserving_hosts=sum((snapshot.reserving_hosts or {}).get(signal, 0) for snapshot in snapshots)
            if known
            else None,
            documents_removed=removed.get(signal, 0),
        )
        for signal in PROTOCOLS
        if snapshots and (signal != "robots-unavailable" or strict or removed.get(signal))
    ]
    tokens = [snapshot.agent_tokens for snapshot in snapshots]
    measures = [
        measure for stage in inventory.stages for measure in stage.measures if "illegal-content" in measure.targets
    ]
    return CopyrightPolicy(
        provider=inventory.provider.name,
        models=[f"{model.name} ({model.version})" for model in inventory.models],
        code_of_practice_signatory=inventory.provider.code_of_practice_signatory,
        tdm_measures=inventory.declarations.tdm_measures,
        protocols=protocols,
        agent_tokens=None if any(item is None for item in tokens) else sorted({t for item in tokens for t in item}),
        rebuild_runs=len(facts.runs),
        snapshots=uses,
        as_of=sorted({snapshot.as_of for snapshot in snapshots}),
        strict=strict,
        unverifiable_url_removed=facts.removed_of_kind("unverifiable-url"),
        crawling=inventory.provider.crawling,
        illegal_content_measures=[
            measure for number, measure in enumerate(measures) if measure not in measures[:number]
        ],
        complaint_contact=inventory.provider.complaint_contact,
    )


def to_markdown(document: ModelDocumentationData | CopyrightPolicy) -> str:
    """Markdown for either document."""
    return document.to_markdown()
