"""The EU Public Summary of Training Content (AI Act Art. 53(1)(d)): schema and builder.

The summary covers the *model*: every stage that trained it, as a training inventory states it
(:mod:`.inventory`). ``summarise(inventory)`` fills :class:`PublicSummary`, field by field of the
Commission's template (July 2025): each answer is derived from the inventory (a Yes/No question
is Yes exactly when a source of that kind is present), every figure of a rebuild run comes from
its verified lock and shards through :mod:`.facts`, and the provider's own statements (3.1's
copyright measures, 3.3, comments) are printed as declared. The builder only computes fields;
every sentence lives in the templates (``eu_summary.md.j2``, ``eu_summary.html.j2`` and their
shared ``_eu_summary.j2``). ``write_summary`` writes ``eu-public-summary.{json,schema.json,md,
html,pdf}``.

What the tool decides: Yes/No answers and modalities from the sources' kinds, the size band (all
stages together), large datasets (over 3% of the public data of a modality, unrounded), pinned
versions, the top domains of 2.3 (:mod:`.domains`), languages and dates of runs, the opt-out and
PII figures. What the provider declares: who it is, the models, each declared dataset's facts and
kind, the measures and what they target, and the statements of :class:`.inventory.Declarations`.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from apertus_compliance.manifests.inventory import (
    MODALITIES,
    DatasetSource,
    GeneratingModel,
    Inventory,
    InventoryError,
    RunSource,
    Size,
    inventory_from_provider,
)

if TYPE_CHECKING:
    from apertus_compliance.manifests.facts import RunFacts, SourceFacts
    from apertus_compliance.manifests.provider import Provider
    from apertus_compliance.manifests.run import Run

__all__ = [
    "FILES",
    "TITLE",
    "PublicSummary",
    "build_summary",
    "summarise",
    "summary_json_schema",
    "to_html",
    "to_json",
    "to_markdown",
    "write_summary",
]

TITLE = "Public Summary of Training Content for General-Purpose AI models"
LARGE_SHARE_PERCENT = 3.0
"""A public dataset is large when it is more than 3% of the public data of its modality."""
TOP_LANGUAGES = 10
BANDS: dict[str, tuple[str, tuple[str, str, str], float, float]] = {
    "text": (
        "tokens",
        ("Less than 1 billion tokens", "1 billion to 10 trillion tokens", "More than 10 trillion tokens"),
        1e9,
        1e13,
    ),
    "image": (
        "images",
        ("Less than 1 million images", "1 million to 1 billion images", "More than 1 billion images"),
        1e6,
        1e9,
    ),
    "video": ("hours", ("Less than 10,000 hours", "10,000 to 1 million hours", "More than 1 million hours"), 1e4, 1e6),
    "audio": ("hours", ("Less than 10,000 hours", "10,000 to 1 million hours", "More than 1 million hours"), 1e4, 1e6),
}
"""The template's size bands per modality: (unit, labels, lower bound of the middle band, upper bound)."""
FILES = ("eu-public-summary.json", "eu-public-summary.md", "eu-public-summary.html", "eu-public-summary.schema.json")
PDF_FILE = "eu-public-summary.pdf"

Text = Annotated[str, Field(min_length=1, pattern=r"\S")]
YesNo = Literal["Yes", "No"]
ModalityName = Literal["text", "image", "video", "audio", "other"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------------------------
# the summary, field by field of the template


class RunReference(_Section):
    """A rebuild run the figures come from, and what pins it."""

    label: Text
    stage: Text
    recipe: Text
    recipe_sha256: Text
    snapshot_id: str | None
    tokenizer: Text
    documents_kept: int
    tokens_kept: int


class ProviderIdentification(_Section):
    """1.1"""

    name: Text
    address: str | None
    website: str | None
    contact: Text
    authorised_representative: Text


class ModelEntry(_Section):
    name: Text
    version: Text
    link: str | None
    placed_on_market: Text
    """DD/MM/YYYY."""


class ModelIdentification(_Section):
    """1.2"""

    models: list[ModelEntry] = Field(min_length=1)
    dependencies: list[str]
    """Models the covered models build on; empty when trained from scratch."""
    placed_on_market: list[str]
    """The distinct dates of placement (DD/MM/YYYY)."""


class ModalityRow(_Section):
    """One row of 1.3's table: is the modality used, its size band, its size, its types of content."""

    modality: ModalityName
    used: bool
    band_options: list[str]
    """The template's bands for the modality (none for "other")."""
    band: str | None
    """The ticked band; None when unused or when the size is in another unit."""
    amount: float | None
    unit: str | None
    at_least: bool
    """True when some stage's size is not stated: the amount is a lower bound."""
    stages_not_counted: list[str]
    types_of_content: list[str]
    """Content types of the modality's run sources (computed)."""


class ContentTypeShare(_Section):
    content_type: Text
    tokens: int
    share_percent: float


class LanguageShare(_Section):
    name: Text
    code: Text
    tokens: int
    share_percent: float


class StageEntry(_Section):
    id: Text
    name: Text
    phase: Literal["pre-training", "post-training"]
    models: list[str]
    size_amount: float | None
    size_unit: str | None
    sources: int


class TrainingData(_Section):
    """1.3"""

    modalities: list[ModalityRow]
    types_of_content: str | None
    """The provider's description of the types of content."""
    content_types: list[ContentTypeShare]
    """Kept tokens per content type of the run sources (computed)."""
    latest_acquisition: str | None
    """MM/YYYY: the latest collection month of the sources with dates (computed)."""
    undated_sources: list[str]
    latest_acquisition_statement: str | None
    languages: list[LanguageShare]
    """The largest natural languages of the run sources (computed, at most ten)."""
    language_count: int
    programming_languages: list[LanguageShare]
    linguistic_statement: str | None
    stages: list[StageEntry]
    other_characteristics: str | None
    comments: str | None


class DatasetEntry(_Section):
    """A dataset as 2.1 (or 2.2.2) lists it; a dataset used in several stages is listed once."""

    name: Text
    link: str | None
    version: str | None
    """A pinned version: a tag, or the commit a run read (never a branch)."""
    licence: str | None
    modality: ModalityName
    group: str | None
    description: str | None
    stages: list[str]
    size_amount: float | None
    size_unit: str | None
    share_percent: float | None
    """Of the public data of its modality, unrounded comparison; None when sizes cannot say."""
    large: bool
    large_by: Literal["size", "provider", "unknown"]
    """How ``large`` was decided: by the sizes, by the provider's declaration, or listed as large
    because nothing decides it (listing is the transparent choice)."""
    runs: list[str]
    """Run sources behind it (``run/source``), when computed from a rebuild."""


class PublicDatasets(_Section):
    """2.1"""

    used: YesNo
    modalities: list[ModalityName]
    large: list[DatasetEntry]
    other: list[DatasetEntry]
    statement: str | None
    other_statement: str | None
    comments: str | None


class LicensedDatasets(_Section):
    """2.2.1"""

    used: YesNo
    modalities: list[ModalityName]
    comments: str | None


class PrivateDatasets(_Section):
    """2.2.2"""

    used: YesNo
    modalities: list[ModalityName]
    known: list[DatasetEntry]
    """Datasets that are publicly known, by name."""
    unnamed: list[str]
    """Descriptions of the datasets that are not publicly known."""
    statement: str | None
    comments: str | None


class DomainEntry(_Section):
    domain: Text
    bytes: int
    documents: int


class DomainList(_Section):
    """2.3's most relevant domain names: the top of the registered domains by size scraped."""

    sme: bool
    share_percent: int
    limit: int | None
    total_domains: int
    computed: list[DomainEntry]
    """From the runs' crawled sources: kept and removed documents (what was scraped)."""
    runs: list[str]
    unreadable_urls: int
    declared: list[str]
    """Listed by the provider for crawls outside the runs."""


class CrawledData(_Section):
    """2.3"""

    used: YesNo
    crawlers: list[str]
    purposes: str | None
    behaviour: str | None
    period_start: str | None
    period_end: str | None
    """MM/YYYY."""
    content: str | None
    modalities: list[ModalityName]
    sources: list[str]
    domains: DomainList | None
    comments: str | None


class UserData(_Section):
    """2.4"""

    from_model_interactions: YesNo
    from_other_services: YesNo
    services: list[str]
    modalities: list[ModalityName]
    comments: str | None


class SyntheticData(_Section):
    """2.5"""

    used: YesNo
    modalities: list[ModalityName]
    models_on_market: list[GeneratingModel]
    other_models: list[GeneratingModel]
    datasets: list[str]
    comments: str | None


class NamedDescription(_Section):
    name: Text
    description: Text


class OtherSources(_Section):
    """2.6"""

    used: YesNo
    sources: list[NamedDescription]
    comments: str | None


class RunOptOut(_Section):
    """What one run honoured: computed from its lock and snapshot (:mod:`.facts`)."""

    run: Text
    as_of: str | None
    agent_tokens: list[str]
    removed_by_signal: dict[str, int]
    paragraph: Text
    """The run's opt-out paragraph, in the words every document uses."""


class TdmReservations(_Section):
    """3.1"""

    signatory: YesNo
    measures: Text
    """The provider's declaration."""
    runs: list[RunOptOut]
    complaint_contact: Text
    comments: str | None


class MeasureEntry(_Section):
    name: Text
    description: Text
    link: str | None
    targets: list[str]
    stages: list[str]


class IllegalContent(_Section):
    """3.2: only measures that target illegal content."""

    measures: list[MeasureEntry]


class RunProcessing(_Section):
    run: Text
    paragraphs: list[str]
    """PII masking, deletion list, filters: the run's paragraphs in every document's words."""


class OtherInformation(_Section):
    """3.3"""

    statement: str | None
    measures: list[MeasureEntry]
    """Declared measures with other targets (personal data, copyright, quality...)."""
    runs: list[RunProcessing]


class PublicSummary(_Section):
    """The template, every section and field; run figures are the runs' locked figures."""

    title: Text
    version: Text
    last_update: Text
    """DD/MM/YYYY."""
    tool_version: Text
    runs: list[RunReference]
    provider: ProviderIdentification
    model: ModelIdentification
    training_data: TrainingData
    public_datasets: PublicDatasets
    licensed_datasets: LicensedDatasets
    private_datasets: PrivateDatasets
    crawled_data: CrawledData
    user_data: UserData
    synthetic_data: SyntheticData
    other_sources: OtherSources
    tdm_reservations: TdmReservations
    illegal_content: IllegalContent
    other_information: OtherInformation


# --------------------------------------------------------------------------------------------
# the sources, flattened from the stages


@dataclass
class _Item:
    """One source of one stage, declared or computed from a run source."""

    where: str
    stage: str
    kind: str
    name: str
    modality: str
    link: str | None = None
    version: str | None = None
    licence: str | None = None
    size: Size | None = None
    collected_end: str | None = None
    """YYYY-MM."""
    group: str | None = None
    description: str | None = None
    large: bool | None = None
    generating_models: list[GeneratingModel] = field(default_factory=list)
    user_data_origin: str | None = None
    services: str | None = None
    publicly_known: bool = True
    run: RunFacts | None = None
    source: SourceFacts | None = None


def _month_of(iso: str) -> str:
    return iso[:7]


def _mm_yyyy(month: str) -> str:
    return f"{month[5:7]}/{month[:4]}"


def _dd_mm_yyyy(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def _run_items(where: str, stage: str, source: RunSource, run: RunFacts) -> list[_Item]:
    items = []
    for facts in run.sources:
        override = source.sources.get(facts.id)
        kind = (override.kind if override and override.kind else None) or (
            "crawled-by-provider" if facts.crawled_by_provider else "public"
        )
        name = facts.dataset or facts.homepage
        if not name and kind != "crawled-by-provider":
            raise InventoryError(
                f"{where} ({run.label}, source {facts.id}): no dataset name and no homepage in the lock, so "
                "it cannot be listed as a dataset; name the dataset (and its homepage) in the recipe"
            )
        items.append(
            _Item(
                where=f"{where} ({facts.id})",
                stage=stage,
                kind=kind,
                name=name or facts.id,
                modality="text",
                link=facts.homepage,
                version=facts.revision,
                licence=facts.license,
                size=Size(amount=facts.tokens_kept, unit="tokens"),
                collected_end=_month_of(facts.last_date) if facts.last_date else None,
                group=override.group if override else None,
                description=override.description if override else None,
                generating_models=list(override.generating_models) if override else [],
                run=run,
                source=facts,
            )
        )
    return items


def _declared_item(where: str, stage: str, source: DatasetSource) -> _Item:
    return _Item(
        where=where,
        stage=stage,
        kind=source.kind,
        name=source.name,
        modality=source.modality,
        link=source.link,
        version=source.version,
        licence=source.licence,
        size=source.size,
        collected_end=source.collected.end if source.collected else None,
        group=source.group,
        description=source.description,
        large=source.large,
        generating_models=list(source.generating_models),
        user_data_origin=source.user_data_origin,
        services=source.services,
        publicly_known=source.publicly_known,
    )


# --------------------------------------------------------------------------------------------
# building


def summarise(inventory: Inventory, runs: dict[Path, Run] | None = None) -> PublicSummary:
    """The Public Summary of the models an inventory describes; ``runs`` are already opened runs
    by folder (others are opened here: a run whose shards do not match its lock is refused)."""
    from apertus_compliance.manifests.facts import run_facts
    from apertus_compliance.manifests.run import Run

    opened = dict(runs or {})
    facts_by_dir: dict[Path, RunFacts] = {}
    labels = Counter()
    for run_dir in inventory.run_dirs():
        run = opened.get(run_dir) or Run.open(run_dir)
        opened[run_dir] = run
        labels[run.lock.recipe.name] += 1
    items: list[_Item] = []
    references: list[RunReference] = []
    for stage_number, stage in enumerate(inventory.stages):
        for source_number, source in enumerate(stage.sources):
            where = f"stages[{stage_number}].sources[{source_number}]"
            if isinstance(source, DatasetSource):
                items.append(_declared_item(where, stage.name, source))
                continue
            if source.run not in facts_by_dir:
                run = opened[source.run]
                name = run.lock.recipe.name
                facts_by_dir[source.run] = run_facts(run, name if labels[name] == 1 else f"{name} ({run.dir.name})")
                references.append(_run_reference(facts_by_dir[source.run], stage.name))
            else:
                raise InventoryError(f"{where}: the run {source.run} is listed twice: its figures would count twice")
            unknown = sorted(set(source.sources) - {facts.id for facts in facts_by_dir[source.run].sources})
            if unknown:
                raise InventoryError(f"{where}.sources: {', '.join(unknown)} not among the run's sources")
            items.extend(_run_items(where, stage.name, source, facts_by_dir[source.run]))
    run_list = list(facts_by_dir.values())
    return PublicSummary(
        title=TITLE,
        version=inventory.summary.version,
        last_update=_dd_mm_yyyy(inventory.summary.last_update),
        tool_version=_tool_version(),
        runs=references,
        provider=ProviderIdentification(
            name=inventory.provider.name,
            address=inventory.provider.address,
            website=inventory.provider.website,
            contact=inventory.provider.contact,
            authorised_representative=inventory.provider.authorised_representative,
        ),
        model=ModelIdentification(
            models=[
                ModelEntry(
                    name=model.name,
                    version=model.version,
                    link=model.link,
                    placed_on_market=_dd_mm_yyyy(model.placed_on_market),
                )
                for model in inventory.models
            ],
            dependencies=sorted({name for model in inventory.models for name in model.dependencies}),
            placed_on_market=[
                _dd_mm_yyyy(day) for day in sorted({model.placed_on_market for model in inventory.models})
            ],
        ),
        training_data=_training_data(inventory, items, run_list),
        public_datasets=_public(inventory, items),
        licensed_datasets=LicensedDatasets(
            used=_yes(_of(items, "commercially-licensed")),
            modalities=_modalities(_of(items, "commercially-licensed")),
            comments=inventory.declarations.comments.get("2.2.1"),
        ),
        private_datasets=_private(inventory, items),
        crawled_data=_crawled(inventory, items, opened),
        user_data=_user_data(inventory, items),
        synthetic_data=_synthetic(inventory, items),
        other_sources=OtherSources(
            used=_yes(_of(items, "other")),
            sources=[
                NamedDescription(name=item.name, description=item.description or item.name)
                for item in _of(items, "other")
            ],
            comments=inventory.declarations.comments.get("2.6"),
        ),
        tdm_reservations=_tdm(inventory, run_list),
        illegal_content=IllegalContent(measures=_measures(inventory, illegal=True)),
        other_information=_other_information(inventory, run_list),
    )


def _tool_version() -> str:
    from apertus_compliance import __version__

    return __version__


def _of(items: list[_Item], kind: str) -> list[_Item]:
    return [item for item in items if item.kind == kind]


def _yes(items: list) -> YesNo:
    return "Yes" if items else "No"


def _modalities(items: list[_Item]) -> list[ModalityName]:
    present = {item.modality for item in items}
    return [modality for modality in MODALITIES if modality in present]


def _run_reference(run: RunFacts, stage: str) -> RunReference:
    return RunReference(
        label=run.label,
        stage=stage,
        recipe=run.recipe,
        recipe_sha256=run.recipe_sha256,
        snapshot_id=run.snapshot.snapshot_id if run.snapshot else None,
        tokenizer=run.tokenizer,
        documents_kept=run.documents_kept,
        tokens_kept=run.tokens_kept,
    )


def _trained_amount(item: _Item) -> float:
    """The item's size as training saw it: a run source repeated ``epochs`` times counts that often
    (the dataset's own size, for the lists and the 3% rule, stays its distinct tokens)."""
    if item.source is not None and item.size.unit == "tokens":
        return item.source.tokens_with_repetition
    return item.size.amount


def _percent(part: float, whole: float) -> float:
    return round(100 * part / whole, 2) if whole else 0.0


# 1.3 --------------------------------------------------------------------------------------


def _band(modality: str, amount: float, at_least: bool, where: str) -> str:
    _, labels, low, high = BANDS[modality]
    band = labels[0] if amount < low else labels[1] if amount <= high else labels[2]
    if at_least and band != labels[2]:
        raise InventoryError(
            f"{where}: the size of the {modality} data is not stated for every stage, and the stated sizes "
            f"({amount:,.0f}) do not decide the template's band; give the missing stages a size"
        )
    return band


def _modality_rows(inventory: Inventory, items: list[_Item]) -> list[ModalityRow]:
    """Sizes from all stages together: a stage's declared size, else the sum of its sources'."""
    totals: dict[str, dict[str, float]] = {}
    missing: dict[str, list[str]] = {}
    for number, stage in enumerate(inventory.stages):
        stage_items = [item for item in items if item.stage == stage.name]
        modalities = {item.modality for item in stage_items}
        if stage.size is not None:
            if len(modalities) != 1:
                raise InventoryError(
                    f"stages[{number}].size: the stage has sources of several modalities "
                    f"({', '.join(sorted(modalities))}); give each source its size instead"
                )
            (modality,) = modalities
            totals.setdefault(modality, {}).setdefault(stage.size.unit, 0)
            totals[modality][stage.size.unit] += stage.size.amount
            continue
        for modality in sorted(modalities):
            sized = [item for item in stage_items if item.modality == modality and item.size is not None]
            if len(sized) < len([item for item in stage_items if item.modality == modality]):
                missing.setdefault(modality, []).append(stage.name)
            for item in sized:
                totals.setdefault(modality, {}).setdefault(item.size.unit, 0)
                totals[modality][item.size.unit] += _trained_amount(item)
    rows = []
    for modality in MODALITIES:
        used = any(item.modality == modality for item in items)
        band_unit, labels = (BANDS[modality][0], list(BANDS[modality][1])) if modality in BANDS else (None, [])
        units = totals.get(modality, {})
        if len(units) > 1:
            raise InventoryError(
                f"stages: the {modality} sizes are in several units ({', '.join(sorted(units))}); "
                "state them in one unit so that they add up"
            )
        amount, unit = next(iter(units.items()))[::-1] if units else (None, None)
        if used and amount is None:
            raise InventoryError(
                f"stages: no size is stated for the {modality} data (stages {', '.join(missing.get(modality, []))}); "
                "give a stage size or the sources' sizes"
            )
        at_least = bool(missing.get(modality))
        band = None
        if used and unit == band_unit and band_unit is not None:
            band = _band(modality, amount, at_least, "stages")
        rows.append(
            ModalityRow(
                modality=modality,
                used=used,
                band_options=labels,
                band=band,
                amount=amount if used else None,
                unit=unit if used else None,
                at_least=at_least and used,
                stages_not_counted=missing.get(modality, []) if used else [],
                types_of_content=[],
            )
        )
    return rows


def _training_data(inventory: Inventory, items: list[_Item], runs: list[RunFacts]) -> TrainingData:
    from apertus_compliance.manifests.facts import TrainingFacts

    training = TrainingFacts(runs=runs)
    rows = _modality_rows(inventory, items)
    content_types = training.content_types() if runs else {}
    total = sum(content_types.values())
    rows = [
        row.model_copy(update={"types_of_content": list(content_types)}) if row.modality == "text" else row
        for row in rows
    ]
    dated = [item.collected_end for item in items if item.collected_end]
    languages = training.languages() if runs else []
    declarations = inventory.declarations
    return TrainingData(
        modalities=rows,
        types_of_content=declarations.types_of_content,
        content_types=[
            ContentTypeShare(content_type=kind, tokens=tokens, share_percent=_percent(tokens, total))
            for kind, tokens in content_types.items()
        ],
        latest_acquisition=_mm_yyyy(max(dated)) if dated else None,
        undated_sources=sorted({item.name for item in items if not item.collected_end}),
        latest_acquisition_statement=declarations.latest_acquisition,
        languages=[
            LanguageShare(name=item.name, code=item.code, tokens=item.tokens, share_percent=item.share_percent)
            for item in languages[:TOP_LANGUAGES]
        ],
        language_count=len(languages),
        programming_languages=[
            LanguageShare(name=item.name, code=item.code, tokens=item.tokens, share_percent=item.share_percent)
            for item in (training.programming_languages() if runs else [])
        ],
        linguistic_statement=declarations.linguistic_characteristics,
        stages=[
            StageEntry(
                id=stage.id,
                name=stage.name,
                phase=stage.phase,
                models=stage.models or [model.name for model in inventory.models],
                size_amount=stage.size.amount if stage.size else None,
                size_unit=stage.size.unit if stage.size else None,
                sources=len([item for item in items if item.stage == stage.name]),
            )
            for stage in inventory.stages
        ],
        other_characteristics=declarations.other_characteristics,
        comments=declarations.comments.get("1.3"),
    )


# 2.1 and 2.2.2 ----------------------------------------------------------------------------


def _identity(item: _Item) -> str:
    """One dataset however often it is used: its link (normalised), else its name."""
    if item.link:
        return item.link.strip().rstrip("/").lower().removeprefix("https://").removeprefix("http://")
    return item.name.strip().lower()


def _merge(items: list[_Item]) -> list[list[_Item]]:
    groups: dict[str, list[_Item]] = {}
    for item in items:
        groups.setdefault(_identity(item), []).append(item)
    return list(groups.values())


def _first(values: list) -> object:
    return next((value for value in values if value), None)


def _dataset_entries(items: list[_Item]) -> list[DatasetEntry]:
    """Datasets with the 3% rule: decided by sizes when every dataset of the modality has one in
    one unit (no rounding before the comparison), else by the provider's ``large``."""
    groups = _merge(items)
    entries = []
    by_modality: dict[str, list[list[_Item]]] = {}
    for group in groups:
        by_modality.setdefault(group[0].modality, []).append(group)
    for modality_groups in by_modality.values():
        sizes: list[Size | None] = []
        for group in modality_groups:
            units = {item.size.unit for item in group if item.size}
            complete = all(item.size for item in group) and len(units) == 1
            sizes.append(Size(amount=sum(item.size.amount for item in group), unit=units.pop()) if complete else None)
        decided_by_size = all(sizes) and len({size.unit for size in sizes}) == 1
        total = sum(size.amount for size in sizes) if decided_by_size else 0
        for group, size in zip(modality_groups, sizes, strict=True):
            declared = [item.large for item in group if item.large is not None]
            if decided_by_size:
                share = 100 * size.amount / total if total else 0.0
                large, large_by = share > LARGE_SHARE_PERCENT, "size"
            elif declared:
                share, large, large_by = None, any(declared), "provider"
            else:
                share, large, large_by = None, True, "unknown"
            versions = [item.version for item in group if item.version]
            entries.append(
                DatasetEntry(
                    name=group[0].name,
                    link=_first([item.link for item in group]),
                    version=", ".join(dict.fromkeys(versions)) or None,
                    licence=_first([item.licence for item in group]),
                    modality=group[0].modality,
                    group=_first([item.group for item in group]),
                    description=_first([item.description for item in group]),
                    stages=list(dict.fromkeys(item.stage for item in group)),
                    size_amount=size.amount if size else None,
                    size_unit=size.unit if size else None,
                    share_percent=round(share, 2) if share is not None else None,
                    large=large,
                    large_by=large_by,
                    runs=[item.source.label for item in group if item.source is not None],
                )
            )
    return entries


def _public(inventory: Inventory, items: list[_Item]) -> PublicDatasets:
    public = _of(items, "public")
    entries = _dataset_entries(public)
    groups = list(dict.fromkeys(entry.group for entry in entries))
    entries.sort(key=lambda entry: groups.index(entry.group))  # stable: inventory order within a group
    return PublicDatasets(
        used=_yes(public),
        modalities=_modalities(public),
        large=[entry for entry in entries if entry.large],
        other=[entry for entry in entries if not entry.large],
        statement=inventory.declarations.public_datasets,
        other_statement=inventory.declarations.other_public_datasets,
        comments=inventory.declarations.comments.get("2.1"),
    )


def _private(inventory: Inventory, items: list[_Item]) -> PrivateDatasets:
    private = _of(items, "private-third-party")
    known = [item for item in private if item.publicly_known]
    return PrivateDatasets(
        used=_yes(private),
        modalities=_modalities(private),
        known=_dataset_entries(known),
        unnamed=[item.description or "A private dataset (not publicly known)" for item in private if item not in known],
        statement=inventory.declarations.private_datasets,
        comments=inventory.declarations.comments.get("2.2.2"),
    )


# 2.3 to 2.5 ---------------------------------------------------------------------------------


def _crawled(inventory: Inventory, items: list[_Item], runs: dict[Path, Run]) -> CrawledData:
    from apertus_compliance.manifests.domains import bytes_by_domain, top_domain_count

    crawled = _of(items, "crawled-by-provider")
    crawling = inventory.provider.crawling
    comments = inventory.declarations.comments.get("2.3")
    if not crawled:
        if crawling is not None:
            raise InventoryError(
                "provider.crawling: crawlers are described but no source is crawled-by-provider (a declared "
                "source's kind, or crawled_by_provider in a run's recipe); mark the crawled sources or remove it"
            )
        return CrawledData(
            used="No",
            crawlers=[],
            purposes=None,
            behaviour=None,
            period_start=None,
            period_end=None,
            content=None,
            modalities=[],
            sources=[],
            domains=None,
            comments=comments,
        )
    if crawling is None:
        raise InventoryError(
            "provider.crawling: sources "
            + ", ".join(item.source.label if item.source else item.name for item in crawled)
            + " were crawled by the provider, so 2.3 needs the crawlers (names, purposes, behaviour, period)"
        )
    shards, run_labels = [], []
    for item in crawled:
        if item.source is None:
            continue
        run = next(run for run in runs.values() if run.dir == item.run.dir)
        shards += [
            run.dir / shard.path
            for shard in [*run.lock.outputs, *run.lock.removed]
            if shard.source_id == item.source.id
        ]
        run_labels.append(item.source.label)
    ranked, unreadable = bytes_by_domain(shards)
    count = top_domain_count(len(ranked), inventory.provider.sme)
    return CrawledData(
        used="Yes",
        crawlers=list(crawling.crawlers),
        purposes=crawling.purposes,
        behaviour=crawling.behaviour,
        period_start=_mm_yyyy(crawling.period.start) if crawling.period.start else None,
        period_end=_mm_yyyy(crawling.period.end),
        content=crawling.content,
        modalities=_modalities(crawled),
        sources=[item.source.label if item.source else item.name for item in crawled],
        domains=DomainList(
            sme=inventory.provider.sme,
            share_percent=5 if inventory.provider.sme else 10,
            limit=1000 if inventory.provider.sme else None,
            total_domains=len(ranked),
            computed=[DomainEntry(domain=name, bytes=size, documents=docs) for name, size, docs in ranked[:count]],
            runs=run_labels,
            unreadable_urls=unreadable,
            declared=list(crawling.top_domains),
        ),
        comments=comments,
    )


def _user_data(inventory: Inventory, items: list[_Item]) -> UserData:
    user = _of(items, "user-data")
    return UserData(
        from_model_interactions=_yes([item for item in user if item.user_data_origin == "model-interactions"]),
        from_other_services=_yes([item for item in user if item.user_data_origin == "other-services"]),
        services=list(dict.fromkeys(item.services for item in user if item.services)),
        modalities=_modalities(user),
        comments=inventory.declarations.comments.get("2.4"),
    )


def _synthetic(inventory: Inventory, items: list[_Item]) -> SyntheticData:
    synthetic = _of(items, "synthetic-by-provider")
    models: dict[tuple[str, bool], GeneratingModel] = {}
    for item in synthetic:
        for model in item.generating_models:
            models.setdefault((model.name, model.on_market), model)
    return SyntheticData(
        used=_yes(synthetic),
        modalities=_modalities(synthetic),
        models_on_market=[model for model in models.values() if model.on_market],
        other_models=[model for model in models.values() if not model.on_market],
        datasets=[item.source.label if item.source else item.name for item in synthetic],
        comments=inventory.declarations.comments.get("2.5"),
    )


# 3 ------------------------------------------------------------------------------------------


def _tdm(inventory: Inventory, runs: list[RunFacts]) -> TdmReservations:
    from apertus_compliance.manifests.render import macros

    return TdmReservations(
        signatory="Yes" if inventory.provider.code_of_practice_signatory else "No",
        measures=inventory.declarations.tdm_measures,
        runs=[
            RunOptOut(
                run=run.label,
                as_of=run.snapshot.as_of if run.snapshot else None,
                agent_tokens=list(run.snapshot.agent_tokens or []) if run.snapshot else [],
                removed_by_signal=run.optout_removed(),
                paragraph=macros().optout(run),
            )
            for run in runs
        ],
        complaint_contact=inventory.provider.complaint_contact,
        comments=inventory.declarations.comments.get("3.1"),
    )


def _measures(inventory: Inventory, illegal: bool) -> list[MeasureEntry]:
    """Declared measures that target illegal content (3.2), or the others (3.3); a measure
    declared alike in several stages is listed once with its stages."""
    found: dict[tuple[str, str], MeasureEntry] = {}
    for stage in inventory.stages:
        for measure in stage.measures:
            if ("illegal-content" in measure.targets) != illegal:
                continue
            entry = found.setdefault(
                (measure.name, measure.description),
                MeasureEntry(
                    name=measure.name,
                    description=measure.description,
                    link=measure.link,
                    targets=list(measure.targets),
                    stages=[],
                ),
            )
            entry.stages.append(stage.name)
    return list(found.values())


def _other_information(inventory: Inventory, runs: list[RunFacts]) -> OtherInformation:
    from apertus_compliance.manifests.render import macros

    say = macros()
    return OtherInformation(
        statement=inventory.declarations.other_information,
        measures=_measures(inventory, illegal=False),
        runs=[
            RunProcessing(run=run.label, paragraphs=[say.pii(run), say.deletion_list(run), say.filters(run)])
            for run in runs
        ],
    )


# --------------------------------------------------------------------------------------------
# the --run/--provider form


def build_summary(runs: list[Run], provider: Provider) -> PublicSummary:
    """The summary of runs described by a provider file: a one-stage inventory
    (:func:`.inventory.inventory_from_provider`)."""
    from apertus_compliance.manifests.run import RunError

    if not runs:
        raise RunError("no runs given: the summary documents at least one finished rebuild")
    if len({run.dir for run in runs}) != len(runs):
        raise RunError("the same run was given twice: its figures would be counted twice")
    inventory = inventory_from_provider(provider, [run.dir for run in runs])
    return summarise(inventory, {run.dir: run for run in runs})


# --------------------------------------------------------------------------------------------
# rendering


def summary_json_schema() -> dict:
    return PublicSummary.model_json_schema()


def to_json(summary: PublicSummary) -> str:
    return summary.model_dump_json(indent=2) + "\n"


def _markdown_text(value: object) -> str:
    """Free text made literal in Markdown: placeholders such as ``<email-pii>`` are not HTML tags,
    a ``*`` agent is not emphasis, a ``|`` does not split a table cell."""
    text = " ".join(str(value).split())
    for character in "\\`*_<>[]|":
        text = text.replace(character, "\\" + character)
    return text


def _squash(value: object) -> object:
    """A macro's output as one line (its line breaks and indentation collapsed); HTML stays markup."""
    from markupsafe import Markup

    text = " ".join(str(value).split())
    return Markup(text) if isinstance(value, Markup) else text


def _css_string(value: object) -> object:
    """Text safe inside a CSS string of the page's <style> (the running footer): no quotes,
    backslashes or angle brackets, and not entity-escaped (CSS would print ``&amp;``)."""
    from markupsafe import Markup

    return Markup(re.sub(r'[<>"\\]', "", " ".join(str(value).split())))


def _amount(value: float) -> str:
    """``15000000000000`` -> ``15 trillion``; small amounts with separators."""
    for size, word in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million")):
        if value >= size:
            return f"{value / size:,.3g} {word}" if value / size < 1000 else f"{value / size:,.0f} {word}"
    return f"{value:,.0f}"


@cache
def _environment(html: bool):
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    from apertus_compliance.manifests.render import TEMPLATES

    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=html,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["number"] = lambda value: f"{value:,}"
    environment.filters["amount"] = _amount
    environment.filters["esc"] = (lambda value: value) if html else _markdown_text
    environment.filters["squash"] = _squash
    environment.filters["css_string"] = _css_string
    environment.globals["MODALITIES"] = MODALITIES
    return environment


def markdown_environment():
    """The Jinja environment of the Markdown documents of this module and of ``manifest diff``:
    free text escaped with ``esc``, numbers with ``number``."""
    return _environment(False)


def to_markdown(summary: PublicSummary) -> str:
    """The summary as Markdown, with the template's numbering, labels and check boxes."""
    return markdown_environment().get_template("eu_summary.md.j2").render(s=summary)


def to_html(summary: PublicSummary) -> str:
    """The summary as a printable HTML page (A4, page numbers), laid out like the template."""
    return _environment(True).get_template("eu_summary.html.j2").render(s=summary)


def write_summary(summary: PublicSummary, out: Path, force: bool = False, pdf: bool = True) -> list[Path]:
    """Write ``eu-public-summary.{json,md,html,schema.json,pdf}`` into ``out``, one after the
    other, each through a temporary sibling and a rename (an interruption leaves whole files
    only). Without ``force``, existing files are refused (all named) before anything is written."""
    from apertus_compliance.folders import OutputExistsError

    names = [*FILES, PDF_FILE] if pdf else list(FILES)
    if not force and (existing := [out / name for name in names if (out / name).exists()]):
        raise OutputExistsError("documents exist: " + ", ".join(map(str, existing)) + "; use --force to replace them")
    html = cache(lambda: to_html(summary))

    def pdf_bytes() -> bytes:
        from apertus_compliance.manifests.pdf import html_to_pdf

        return html_to_pdf(html())

    producers: dict[str, Callable[[], str | bytes]] = {
        "eu-public-summary.json": lambda: to_json(summary),
        "eu-public-summary.md": lambda: to_markdown(summary),
        "eu-public-summary.html": html,
        "eu-public-summary.schema.json": lambda: json.dumps(summary_json_schema(), indent=2) + "\n",
        PDF_FILE: pdf_bytes,
    }
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, produce in producers.items():
        if name not in names:
            continue
        path = out / name
        temporary = path.with_name(f".{name}.{os.getpid()}.tmp")
        try:
            content = produce()
            if isinstance(content, bytes):
                temporary.write_bytes(content)
            else:
                temporary.write_text(content, encoding="utf-8")
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        written.append(path)
    return written
