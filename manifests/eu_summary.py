"""The EU Public Summary of Training Content (AI Act Art. 53(1)(d)), computed from rebuild runs.

The European Commission's template (C(2025) 8311) asks for provider and model facts, the
modalities and size of the training data, its sources (public datasets, private datasets,
crawling, user data, synthetic data, other) and how the provider respected text-and-data-mining
reservations and removed illegal content. The provider facts come from a provider file
(:mod:`.provider`); every figure comes from the runs' verified locks and mixture shards
(:class:`.run.Run`), so the published summary is true to the data that was actually used.

``build_summary`` fills :class:`PublicSummary`; ``to_json``, ``to_markdown`` and ``to_html``
render it with the template's numbering; ``diff_summaries`` explains what changed between two
sets of runs (a rebuild after new opt-outs, a new mixture). Inputs that are missing or contradict
each other raise ``RunError`` or ``ProviderError`` naming what to fix: a legal document is never guessed.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from apertus_compliance.manifests.languages import ISO_639_1, LANGUAGE_NAMES, MACROLANGUAGE, PROGRAMMING_LANGUAGES
from apertus_compliance.manifests.provider import Provider, ProviderError
from apertus_compliance.manifests.run import Run, RunError
from apertus_compliance.optout import SIGNALS

TEMPLATE = (
    "European Commission, Template for the Public Summary of Training Content for general-purpose AI "
    "models (Art. 53(1)(d) AI Act, C(2025) 8311)"
)
TEXT_BANDS = ("Less than 1 billion tokens", "1 billion to 10 trillion tokens", "More than 10 trillion tokens")
MODALITIES = ("text", "image", "audio", "video", "other")
LARGE_DATASET_SHARE = 3.0
"""Percent of a modality's public-dataset content above which the template calls a dataset large."""
TOP_LANGUAGES = 10
OPTOUT_SIGNALS = tuple(SIGNALS)
"""Removal reasons that are reservations of rights (opt-outs)."""
NON_RESERVATION_REASONS = {
    "invalid": "unusable input (no text, undecodable bytes, no URL where opt-outs need one)",
    "invalid-url": "URL whose host cannot be read, so no reservation could be checked (removed, fail-closed)",
    "budget": "left out by the deterministic sampler once the source's token budget was filled",
}

CONTENT_TYPES = {
    "web": "General web pages (public web crawl text)",
    "educational-web": "Educational web pages (web crawl text selected for educational value)",
    "code": "Source code",
    "math": "Mathematical web content",
    "encyclopedia": "Encyclopedia articles",
    "parallel": "Parallel (translated) text",
    "instruction": "Instruction and task data",
    "synthetic": "Synthetic (AI-generated) text",
    "other": "Other text",
}

PROTOCOLS = {
    "robots": (
        "robots.txt (RFC 9309)",
        "the site's robots.txt disallows the URL for at least one user agent of the agent list "
        "(product tokens below; '*' means a disallow for all bots counts too)",
    ),
    "aipref": (
        "IETF AI Preferences (aipref) Content-Usage",
        "'Content-Usage: train-ai=n' as an HTTP header or a robots.txt line, with optional path prefixes",
    ),
    "content-signal": ("Content Signals in robots.txt", "'Content-Signal: ai-train=no'"),
    "tdmrep": (
        "W3C TDM Reservation Protocol (TDMRep)",
        "'/.well-known/tdmrep.json' with 'tdm-reservation: 1', the 'tdm-reservation' HTTP header or HTML meta",
    ),
    "noai": ("X-Robots-Tag / HTML meta robots 'noai'", "'noai' in the X-Robots-Tag header or the robots meta tag"),
    "rightsholder": ("Rights-holder reservation lists", "sites whose rights holders reserved their rights directly"),
    "robots-unavailable": (
        "Unavailable robots.txt (strict mode)",
        "a robots.txt that could not be fetched or parsed counts as a reservation",
    ),
}


# --------------------------------------------------------------------------------------------
# the summary, section by section

Text = Annotated[str, Field(min_length=1, pattern=r"\S")]
"""Every text field says something: a field that does not apply says so and why."""
YesNo = Literal["Yes", "No"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProviderIdentification(_Section):
    """1.1"""

    provider_name: Text
    provider_contact: Text
    authorised_representative: Text


class ModelEntry(_Section):
    name: Text
    version: Text


class ModelIdentification(_Section):
    """1.2"""

    models: list[ModelEntry] = Field(min_length=1)
    dependencies: Text
    placed_on_market: Text
    """ISO date the model was (or will be) placed on the Union market."""


class Modalities(_Section):
    text: YesNo
    image: YesNo
    audio: YesNo
    video: YesNo
    other: YesNo


class ModalitySize(_Section):
    modality: Literal["text", "image", "audio", "video", "other"]
    band: Text
    band_options: list[str]
    """The template's bands for this modality (empty where the modality is not used)."""
    amount: int | None
    unit: Text
    approximate_size: Text


class ContentTypeShare(_Section):
    content_type: Text
    description: Text
    tokens: int
    share_percent: float
    sources: list[str]


class LanguageShare(_Section):
    language: Text
    code: Text
    tokens: int
    share_percent: float


class LinguisticCharacteristics(_Section):
    natural_language_count: int
    largest: list[LanguageShare]
    """The largest natural languages by share of natural-language tokens (at most ten)."""
    natural_languages: list[LanguageShare]
    unlabelled_tokens: int
    unlabelled_sources: list[str]
    programming_languages: list[LanguageShare]
    """Programming languages of the code sources, by share of code tokens."""
    description: Text


class ModalitiesAndSize(_Section):
    """1.3"""

    modalities: Modalities
    training_data_size: list[ModalitySize]
    total_tokens: int
    tokenizer: Text
    types_of_content: list[ContentTypeShare]
    types_of_content_description: Text
    latest_acquisition: Text
    """MM/YYYY of the latest document date, or why it cannot be given."""
    latest_acquisition_note: Text
    linguistic_characteristics: LinguisticCharacteristics
    other_characteristics: Text
    comments: Text


class GeneralInformation(_Section):
    provider_identification: ProviderIdentification
    model_identification: ModelIdentification
    modalities_and_size: ModalitiesAndSize


class DatasetEntry(_Section):
    run: Text
    source_id: Text
    name: Text
    link: Text
    version: Text
    licence: Text
    content_type: Text
    modality: Text
    documents_kept: int
    tokens_kept: int
    share_percent: float
    """Share of all public-dataset tokens."""
    large: bool
    """More than 3% of the public-dataset content of its modality (the template's 'large')."""


class PublicDatasets(_Section):
    """2.1"""

    used: YesNo
    modalities: Text
    datasets: list[DatasetEntry]
    other_datasets_description: Text


class PrivateDatasetAnswer(_Section):
    used: YesNo
    modalities: Text
    description: Text


class PrivateDatasets(_Section):
    """2.2"""

    commercially_licensed: PrivateDatasetAnswer
    """2.2.1 datasets commercially licensed by rightsholders or their representatives."""
    other_third_parties: PrivateDatasetAnswer
    """2.2.2 private datasets obtained from other third parties."""


class DomainEntry(_Section):
    domain: Text
    bytes: int
    documents: int


class CrawledData(_Section):
    """2.3"""

    used: YesNo
    crawlers: Text
    purposes: Text
    behaviour: Text
    collection_period: Text
    content_types: Text
    sources: list[str]
    domains_rule: Text
    domains_total: int
    top_domains: list[DomainEntry]


class UserData(_Section):
    """2.4"""

    from_model_interactions: YesNo
    from_other_services: YesNo
    modalities: Text
    description: Text


class SyntheticData(_Section):
    """2.5"""

    used: YesNo
    modalities: Text
    description: Text
    sources: list[str]


class OtherSources(_Section):
    """2.6"""

    used: YesNo
    description: Text


class DataSources(_Section):
    public_datasets: PublicDatasets
    private_datasets: PrivateDatasets
    crawled_data: CrawledData
    user_data: UserData
    synthetic_data: SyntheticData
    other_sources: OtherSources


class Protocol(_Section):
    signal: Text
    name: Text
    rule: Text
    documents_removed: int
    tokens_removed: int


class OptOutRun(_Section):
    run: Text
    snapshot_id: Text
    as_of: Text
    agent_list: Text
    agent_tokens: list[str] = Field(min_length=1)
    granularity: Text
    strict: bool
    sources_filtered: list[str]
    sources_not_filtered: list[str]


class RemovalRow(_Section):
    run: Text
    source_id: Text
    reason: Text
    documents: int
    tokens: int


class ReasonTotal(_Section):
    reason: Text
    documents: int
    tokens: int


class TdmReservations(_Section):
    """3.1"""

    code_of_practice_signatory: YesNo
    measures: Text
    protocols: list[Protocol]
    optout_runs: list[OptOutRun]
    retroactive: Text
    removals: list[RemovalRow]
    """Documents and tokens removed per opt-out signal and source (rows with a count only)."""
    totals: list[ReasonTotal]
    total_documents_removed: int
    total_tokens_removed: int
    complaint_contact: Text


class PiiRow(_Section):
    run: Text
    source_id: Text
    masked: bool
    emails: int
    ip_addresses: int
    ibans: int


class IllegalContent(_Section):
    """3.2"""

    provider_measures: Text
    pii_masking: Text
    pii: list[PiiRow]
    deletion_list: Text
    filters: Text
    filter_removals: list[RemovalRow]


class RunReference(_Section):
    run: Text
    recipe_name: Text
    recipe_sha256: Text
    snapshot_id: Text
    tokenizer: Text
    tokens_kept: int
    documents_kept: int


class OtherInformation(_Section):
    """3.3"""

    provider_information: Text
    verification: Text
    runs: list[RunReference]


class DataProcessing(_Section):
    tdm_reservations: TdmReservations
    illegal_content: IllegalContent
    other_information: OtherInformation


class PublicSummary(_Section):
    """The template, every section and field; numbers are the runs' locked figures."""

    template: Text
    generated_by: Text
    general_information: GeneralInformation
    data_sources: DataSources
    data_processing: DataProcessing


# --------------------------------------------------------------------------------------------
# facts read from the runs


@dataclass
class _Source:
    run: str
    run_obj: Run
    id: str
    entry: dict
    languages: dict[str, int]
    first_date: str | None
    last_date: str | None
    pii: tuple[int, int, int]

    @property
    def content_type(self) -> str:
        return self.entry["content_type"]

    @property
    def tokens_kept(self) -> int:
        return int(self.entry["tokens"]["kept"])

    @property
    def documents_kept(self) -> int:
        return int(self.entry["documents"]["kept"])

    @property
    def label(self) -> str:
        return f"{self.run}/{self.id}"


@dataclass
class _Facts:
    runs: list[tuple[str, Run]]
    sources: list[_Source] = field(default_factory=list)


def _require(entry: dict, keys: tuple[str, ...], where: str) -> None:
    missing = [key for key in keys if key not in entry]
    if missing:
        raise RunError(f"{where}: the lock lacks {', '.join(missing)} (written by an older rebuild? re-run it)")


def _reason_kind(reason: str, entry: dict) -> str:
    if reason in OPTOUT_SIGNALS:
        return "optout"
    if reason in NON_RESERVATION_REASONS:
        return reason
    if reason in entry["steps"].get("filters", []):
        return "filter"
    raise RunError(
        f"unknown removal reason {reason!r}: neither an opt-out signal ({', '.join(OPTOUT_SIGNALS)}), "
        f"nor {', '.join(NON_RESERVATION_REASONS)}, nor one of the source's filters"
    )


def _collect(runs: list[Run]) -> _Facts:
    if not runs:
        raise RunError("no runs given: the summary documents at least one finished rebuild")
    dirs = [run.dir for run in runs]
    if len(set(dirs)) != len(dirs):
        raise RunError("the same run was given twice: its figures would be counted twice")
    names = Counter(run.lock["recipe"]["name"] for run in runs)
    facts = _Facts(runs=[])
    for run in runs:
        _require(run.lock, ("recipe", "tokenizer", "optout", "sources", "outputs"), str(run.dir))
        name = run.lock["recipe"]["name"]
        label = name if names[name] == 1 else f"{name} ({run.dir.name})"
        facts.runs.append((label, run))
        if not run.sources:
            raise RunError(f"{run.dir}: the lock lists no sources")
        for source_id, entry in sorted(run.sources.items()):
            where = f"{run.dir}: source {source_id}"
            _require(
                entry,
                (
                    "content_type",
                    "dataset",
                    "revision",
                    "homepage",
                    "license",
                    "crawled_by_provider",
                    "steps",
                    "documents",
                    "tokens",
                ),
                where,
            )
            if entry["content_type"] not in CONTENT_TYPES:
                raise RunError(f"{where}: unknown content_type {entry['content_type']!r}")
            if set(entry["documents"]["removed"]) != set(entry["tokens"]["removed"]):
                raise RunError(f"{where}: removal reasons differ between documents and tokens in the lock")
            for reason in entry["documents"]["removed"]:
                _reason_kind(reason, entry)
            languages: dict[str, int] = {}
            first = last = None
            email = ip = iban = 0
            if run.shard_paths(source_id):  # a source that kept nothing has no shards to query
                for language, tokens in run.query(
                    "SELECT coalesce(nullif(trim(language), ''), 'unknown'), sum(tokens) FROM mixture GROUP BY 1",
                    source_id=source_id,
                ):
                    languages[language] = int(tokens)
                first, last, email, ip, iban = run.query(
                    "SELECT min(try_cast(left(date, 10) AS DATE)), max(try_cast(left(date, 10) AS DATE)), "
                    "coalesce(sum(pii_email), 0), coalesce(sum(pii_ip), 0), coalesce(sum(pii_iban), 0) "
                    "FROM mixture",
                    source_id=source_id,
                )[0]
            if sum(languages.values()) != int(entry["tokens"]["kept"]):
                raise RunError(
                    f"{where}: the shards hold {sum(languages.values()):,} tokens, the lock says "
                    f"{entry['tokens']['kept']:,}"
                )
            facts.sources.append(
                _Source(
                    label,
                    run,
                    source_id,
                    entry,
                    languages,
                    first.isoformat() if first else None,
                    last.isoformat() if last else None,
                    (int(email), int(ip), int(iban)),
                )
            )
    return facts


@cache
def _bundled_agent_lists() -> dict[str, list]:
    from apertus_compliance.optout import bundled_agent_lists, load_agent_list

    found: dict[str, list] = defaultdict(list)
    for stem in bundled_agent_lists():
        agent_list = load_agent_list(stem)
        found[agent_list.name].append(agent_list)
    return dict(found)


def _optout_facts(run: Run) -> tuple[dict, list[str], dict]:
    """The run's opt-out settings, its agent tokens, and the snapshot's counts (empty when unknown)."""
    optout = run.lock["optout"]
    manifest_path = run.dir / "optout" / "snapshot" / "manifest.json"
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("snapshot_id") != optout["snapshot_id"]:
            raise RunError(
                f"{manifest_path}: snapshot {manifest.get('snapshot_id')} is not the locked {optout['snapshot_id']}"
            )
        return optout, list(manifest["agent_list"]["tokens"]), manifest.get("counts", {})
    from apertus_compliance.optout import load_agent_list

    name = optout["agent_list"]
    try:
        return optout, list(load_agent_list(name).tokens), {}
    except ValueError:
        pass
    candidates = _bundled_agent_lists().get(name, [])
    if len(candidates) != 1:
        raise RunError(
            f"{run.dir}: the run has no snapshot manifest and the agent list {name!r} is "
            f"{'ambiguous' if candidates else 'unknown'}: cannot say which agents were honoured"
        )
    return optout, list(candidates[0].tokens), {}


def _tokenizer(lock: dict) -> str:
    tokenizer = lock["tokenizer"]
    if tokenizer.get("kind") == "fallback":
        return f"{tokenizer['name']} (no tokenizer: tokens estimated as ceil(UTF-8 bytes / 4))"
    return str(tokenizer.get("name") or tokenizer)


def _month(iso: str) -> str:
    return f"{iso[5:7]}/{iso[:4]}"


def _percent(part: int, whole: int) -> float:
    return round(100 * part / whole, 2) if whole else 0.0


def _number(value: int) -> str:
    for size, word in ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (10**3, "thousand")):
        if value >= size:
            return f"{value / size:.2f} {word}"
    return str(value)


def _text_band(tokens: int) -> str:
    if tokens < 10**9:
        return TEXT_BANDS[0]
    return TEXT_BANDS[1] if tokens <= 10 * 10**12 else TEXT_BANDS[2]


def _natural_language(label: str) -> list[tuple[str, str]]:
    """``[(ISO 639-3 code, name)]`` for a label: one language, or two for a parallel pair (``en-de``)."""
    parts = label.split("-")
    if len(parts) == 2 and all(part.islower() and (part in ISO_639_1 or part in LANGUAGE_NAMES) for part in parts):
        return [_one_language(part) for part in parts]
    return [_one_language(parts[0])]


def _one_language(label: str) -> tuple[str, str]:
    base = label.split("_")[0].lower()
    code = ISO_639_1.get(base, base)
    code = MACROLANGUAGE.get(code, code)
    name = LANGUAGE_NAMES.get(code)
    return (code, name) if name else (label, f"{label} (code as given by the source)")


def _language_tables(sources: list[_Source]) -> tuple[Counter, dict[str, str], Counter, int, list[str]]:
    """Natural-language tokens by ISO code (names alongside), programming-language tokens, unlabelled tokens."""
    natural: Counter = Counter()
    names: dict[str, str] = {}
    programming: Counter = Counter()
    unlabelled, unlabelled_sources = 0, []
    for source in sources:
        for label, tokens in source.languages.items():
            if label == "unknown":
                unlabelled += tokens
                if source.label not in unlabelled_sources:
                    unlabelled_sources.append(source.label)
            elif source.content_type == "code":
                programming[PROGRAMMING_LANGUAGES.get(label.lower(), label)] += tokens
            else:
                languages = _natural_language(label)
                share = tokens // len(languages)
                for index, (code, name) in enumerate(languages):
                    natural[code] += share + (tokens - share * len(languages) if index == 0 else 0)
                    names[code] = name
    return natural, names, programming, unlabelled, unlabelled_sources


def _shares(counts: Counter, names: dict[str, str] | None = None) -> list[LanguageShare]:
    total = sum(counts.values())
    return [
        LanguageShare(
            language=names[code] if names else code, code=code, tokens=tokens, share_percent=_percent(tokens, total)
        )
        for code, tokens in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]


# --------------------------------------------------------------------------------------------
# building


def build_summary(runs: list[Run], provider: Provider) -> PublicSummary:
    """The Public Summary for a model trained on ``runs`` (e.g. pre-training and post-training),
    figures summed across runs; raises ``RunError`` or ``ProviderError`` on missing or contradictory inputs."""
    facts = _collect(runs)
    sources = facts.sources
    section_2 = _data_sources(facts, provider)
    return PublicSummary(
        template=TEMPLATE,
        generated_by=f"apertus-compliance {_toolkit_version()} (manifests.eu_summary), from "
        + ", ".join(f"{label} (recipe sha256 {run.lock['recipe']['sha256'][:12]})" for label, run in facts.runs),
        general_information=GeneralInformation(
            provider_identification=ProviderIdentification(
                provider_name=provider.provider,
                provider_contact=provider.contact,
                authorised_representative=provider.authorised_representative,
            ),
            model_identification=ModelIdentification(
                models=[ModelEntry(name=model.name, version=model.version) for model in provider.models],
                dependencies="; ".join(provider.dependencies)
                if provider.dependencies
                else "None: the model was trained from scratch, it modifies no other general-purpose AI model.",
                placed_on_market=provider.placed_on_market.isoformat(),
            ),
            modalities_and_size=_modalities_and_size(facts, sources),
        ),
        data_sources=section_2,
        data_processing=DataProcessing(
            tdm_reservations=_tdm(facts, provider),
            illegal_content=_illegal_content(facts, provider),
            other_information=_other_information(facts, provider),
        ),
    )


def _toolkit_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("apertus-compliance")
    except PackageNotFoundError:
        return "(not installed)"


def _modalities_and_size(facts: _Facts, sources: list[_Source]) -> ModalitiesAndSize:
    total = sum(source.tokens_kept for source in sources)
    if total == 0:
        raise RunError("the runs kept no tokens: there is no training data to summarise")
    tokenizers = sorted({_tokenizer(run.lock) for _, run in facts.runs})
    tokenizer = "; ".join(tokenizers)
    approximate = f"about {_number(total)} tokens ({total:,} tokens, counted with {tokenizer})"
    if len(tokenizers) > 1:
        approximate += "; the runs count tokens with different tokenizers, so the sum mixes units"
    sizes = [
        ModalitySize(
            modality="text",
            band=_text_band(total),
            band_options=list(TEXT_BANDS),
            amount=total,
            unit="tokens",
            approximate_size=approximate,
        )
    ]
    for modality in MODALITIES[1:]:
        sizes.append(
            ModalitySize(
                modality=modality,
                band=f"Not applicable: no {modality} data in the training data",
                band_options=[],
                amount=None,
                unit="not applicable",
                approximate_size=f"Not applicable: no {modality} data",
            )
        )

    by_type: dict[str, list[_Source]] = defaultdict(list)
    for source in sources:
        by_type[source.content_type].append(source)
    types = sorted(
        (
            ContentTypeShare(
                content_type=kind,
                description=CONTENT_TYPES[kind],
                tokens=sum(source.tokens_kept for source in members),
                share_percent=_percent(sum(source.tokens_kept for source in members), total),
                sources=[source.label for source in members],
            )
            for kind, members in by_type.items()
        ),
        key=lambda item: (-item.tokens, item.content_type),
    )
    types_text = "; ".join(f"{item.description} {item.share_percent}% ({', '.join(item.sources)})" for item in types)

    dated = [source for source in sources if source.last_date]
    undated = [source.label for source in sources if not source.last_date]
    if dated:
        latest = max(source.last_date for source in dated)
        latest_acquisition = _month(latest)
        note = (
            f"Latest document date {latest} (from the documents' crawl dates in "
            f"{', '.join(source.label for source in dated)})."
        )
    else:
        latest_acquisition = "Not determinable from the data: no source records document dates"
        note = "No source of the runs records document dates."
    note += (
        f" Sources without document dates (their acquisition date is that of the published dataset version "
        f"listed in 2.1): {', '.join(undated)}."
        if undated
        else " Every source records document dates."
    )

    documents = {"read": 0, "kept": 0}
    other_removed: Counter = Counter()
    for source in sources:
        documents["read"] += int(source.entry["documents"]["read"])
        documents["kept"] += source.documents_kept
        for reason, count in source.entry["documents"]["removed"].items():
            if _reason_kind(reason, source.entry) in ("invalid", "invalid-url", "budget"):
                other_removed[reason] += int(count)
    other = (
        f"{len(sources)} sources in {len(facts.runs)} run(s): {documents['read']:,} documents read, "
        f"{documents['kept']:,} kept. Besides opt-outs (3.1) and filters (3.2): "
        + (
            "; ".join(
                f"{count:,} documents {reason} ({NON_RESERVATION_REASONS[reason]})"
                for reason, count in sorted(other_removed.items())
            )
            or "no other removals"
        )
        + "."
    )
    comments = (
        "All figures are computed from the rebuild lock files and the mixture shards they verify "
        "(apertus-compliance); token counts use " + tokenizer + "."
    )
    return ModalitiesAndSize(
        modalities=Modalities(text="Yes", image="No", audio="No", video="No", other="No"),
        training_data_size=sizes,
        total_tokens=total,
        tokenizer=tokenizer,
        types_of_content=types,
        types_of_content_description=types_text,
        latest_acquisition=latest_acquisition,
        latest_acquisition_note=note,
        linguistic_characteristics=_linguistic(sources),
        other_characteristics=other,
        comments=comments,
    )


def _linguistic(sources: list[_Source]) -> LinguisticCharacteristics:
    natural, names, programming, unlabelled, unlabelled_sources = _language_tables(sources)
    natural_shares = _shares(natural, names)
    programming_shares = _shares(programming)
    total = sum(source.tokens_kept for source in sources)
    parts = []
    if natural_shares:
        parts.append(
            f"The natural-language text covers {len(natural_shares)} natural language(s) (from the "
            f"sources' language labels, normalized to ISO 639-3). Largest by share of natural-language "
            f"tokens: "
            + ", ".join(f"{item.language} {item.share_percent}%" for item in natural_shares[:TOP_LANGUAGES])
            + "."
        )
        if any(
            len(_natural_language(label)) == 2
            for source in sources
            for label in source.languages
            if source.content_type != "code" and label != "unknown"
        ):
            parts.append("Parallel text labelled with a language pair is counted half for each language.")
    else:
        parts.append("No source labels the language of its natural-language text.")
    if unlabelled:
        parts.append(
            f"{unlabelled:,} tokens ({_percent(unlabelled, total)}% of all tokens) carry no language label "
            f"(sources: {', '.join(unlabelled_sources)})."
        )
    if programming_shares:
        parts.append(
            "Programming languages of the code sources, by share of labelled code tokens: "
            + ", ".join(f"{item.language} {item.share_percent}%" for item in programming_shares)
            + "."
        )
    elif any(source.content_type == "code" for source in sources):
        parts.append("The code sources do not label their programming languages.")
    else:
        parts.append("No code sources: no programming languages.")
    return LinguisticCharacteristics(
        natural_language_count=len(natural_shares),
        largest=natural_shares[:TOP_LANGUAGES],
        natural_languages=natural_shares,
        unlabelled_tokens=unlabelled,
        unlabelled_sources=unlabelled_sources,
        programming_languages=programming_shares,
        description=" ".join(parts),
    )


def _data_sources(facts: _Facts, provider: Provider) -> DataSources:
    sources = facts.sources
    crawled = [source for source in sources if source.entry["crawled_by_provider"]]
    synthetic = [source for source in sources if source.content_type == "synthetic" and source not in crawled]
    public = [source for source in sources if source not in crawled and source not in synthetic]
    for source in public:
        if not (source.entry["dataset"] or source.entry["homepage"]):
            raise ProviderError(
                f"source {source.label}: no dataset name and no homepage in the lock, so it cannot be "
                "told whether it is a public dataset (2.1), a private one (2.2) or another source "
                "(2.6); name the dataset (and its homepage) in the recipe"
            )
    if synthetic and provider.synthetic_data is None:
        raise ProviderError(
            f"sources {', '.join(source.label for source in synthetic)} hold synthetic data but the "
            "provider file does not describe it (synthetic_data: how it was made, with which models)"
        )
    if crawled and provider.crawling is None:
        raise ProviderError(
            f"sources {', '.join(source.label for source in crawled)} were crawled by the provider but "
            "the provider file has no crawling section (crawlers, purposes, behaviour, period)"
        )
    if provider.crawling is not None and not crawled:
        raise ProviderError(
            "the provider file describes crawling but no source of the runs is marked "
            "crawled_by_provider: mark the crawled sources in the recipe, or remove the crawling section"
        )
    if provider.user_data:
        raise ProviderError(
            "the provider file says user data was used (user_data: true), but it cannot say which of "
            "the template's two questions applies (interactions with the model, other services) nor "
            "describe the data; section 2.4 cannot be answered from it"
        )

    public_total = sum(source.tokens_kept for source in public)
    datasets = []
    for source in public:
        entry = source.entry
        share = _percent(source.tokens_kept, public_total)
        datasets.append(
            DatasetEntry(
                run=source.run,
                source_id=source.id,
                name=entry["dataset"] or entry["homepage"],
                link=entry["homepage"] or "No link: the recipe gives no homepage for this dataset",
                version=entry["revision"]
                or "Not pinned: the recipe names no revision (local files, hashed in the lock)",
                licence=entry["license"] or "Not recorded in the recipe",
                content_type=source.content_type,
                modality="text",
                documents_kept=source.documents_kept,
                tokens_kept=source.tokens_kept,
                share_percent=share,
                large=share > LARGE_DATASET_SHARE,
            )
        )
    datasets.sort(key=lambda item: (-item.tokens_kept, item.run, item.source_id))
    small = [item for item in datasets if not item.large]
    if not datasets:
        other_description = "Not applicable: no publicly available datasets were used."
    elif small:
        other_description = (
            "Datasets of at most 3% of the public-dataset text (listed above too, for completeness): "
            + ", ".join(f"{item.name} ({item.share_percent}%)" for item in small)
            + "."
        )
    else:
        other_description = "None: every public dataset used is over 3% of the public-dataset text and listed above."

    no_private = PrivateDatasetAnswer(
        used="No",
        modalities="Not applicable: no such datasets",
        description="Not applicable: every source of the runs is a publicly available dataset (2.1), "
        "crawled by the provider (2.3) or synthetic (2.5); the runs contain no licensed private datasets.",
    )
    no_private_other = no_private.model_copy(
        update={
            "description": "Not applicable: every source of the runs is a publicly available dataset (2.1), crawled by "
            "the provider (2.3) or synthetic (2.5); no private datasets from other third parties."
        }
    )
    return DataSources(
        public_datasets=PublicDatasets(
            used="Yes" if datasets else "No",
            modalities="Text" if datasets else "Not applicable: no public datasets",
            datasets=datasets,
            other_datasets_description=other_description,
        ),
        private_datasets=PrivateDatasets(commercially_licensed=no_private, other_third_parties=no_private_other),
        crawled_data=_crawled(facts, provider, crawled),
        user_data=UserData(
            from_model_interactions="No",
            from_other_services="No",
            modalities="Not applicable: no user data",
            description="Not applicable: no data from user interactions with the model or with the "
            "provider's other services was used (provider file: user_data false).",
        ),
        synthetic_data=_synthetic(provider, synthetic),
        other_sources=OtherSources(
            used="No", description="Not applicable: every source of the runs is covered by sections 2.1 to 2.5."
        ),
    )


def _crawled(facts: _Facts, provider: Provider, crawled: list[_Source]) -> CrawledData:
    if not crawled:
        reason = "Not applicable: the provider did not crawl or scrape online sources itself"
        return CrawledData(
            used="No",
            crawlers=reason,
            purposes=reason,
            behaviour=reason,
            collection_period=reason,
            content_types=reason,
            sources=[],
            domains_rule=reason + " (no source of the runs is marked crawled_by_provider).",
            domains_total=0,
            top_domains=[],
        )
    crawling = provider.crawling
    totals: dict[str, list[int]] = {}
    for _, run in facts.runs:
        ids = [source.id for source in crawled if source.run_obj is run]
        if not ids:
            continue
        for host, size, count in run.bytes_by_domain(ids):
            row = totals.setdefault(host, [0, 0])
            row[0] += size
            row[1] += count
    if not totals:
        raise RunError(
            f"crawled sources {', '.join(source.label for source in crawled)} have no documents with "
            "URLs: the most relevant domain names cannot be computed"
        )
    ranked = sorted(totals.items(), key=lambda item: (-item[1][0], item[0]))
    if provider.sme:
        top = min(math.ceil(0.05 * len(ranked)), 1000)
        rule = (
            f"Top 5% (at most 1,000, the template's rule for SMEs) of the {len(ranked):,} domain names by bytes "
            f"of kept content in the crawled sources: {top:,} domain names."
        )
    else:
        top = math.ceil(0.10 * len(ranked))
        rule = (
            f"Top 10% of the {len(ranked):,} domain names by bytes of kept content in the crawled sources: "
            f"{top:,} domain names."
        )
    dated = [source for source in crawled if source.first_date]
    period = f"{crawling.period_start} to {crawling.period_end}"
    if dated:
        period += (
            f" (document dates in the crawled sources: {_month(min(s.first_date for s in dated))} to "
            f"{_month(max(s.last_date for s in dated))})"
        )
    kinds = sorted({source.content_type for source in crawled})
    return CrawledData(
        used="Yes",
        crawlers=", ".join(crawling.crawlers),
        purposes=crawling.purposes,
        behaviour=crawling.behaviour,
        collection_period=period,
        content_types="; ".join(CONTENT_TYPES[kind] for kind in kinds),
        sources=[source.label for source in crawled],
        domains_rule=rule,
        domains_total=len(ranked),
        top_domains=[DomainEntry(domain=host, bytes=size, documents=count) for host, (size, count) in ranked[:top]],
    )


def _synthetic(provider: Provider, synthetic: list[_Source]) -> SyntheticData:
    if provider.synthetic_data is None:
        return SyntheticData(
            used="No",
            modalities="Not applicable: no synthetic data",
            description="Not applicable: the provider did not create synthetic data to train the "
            "model (provider file: no synthetic_data).",
            sources=[],
        )
    description = provider.synthetic_data
    if synthetic:
        description += " Sources: " + ", ".join(f"{s.label} ({s.tokens_kept:,} tokens)" for s in synthetic) + "."
    return SyntheticData(
        used="Yes", modalities="Text", description=description, sources=[source.label for source in synthetic]
    )


def _tdm(facts: _Facts, provider: Provider) -> TdmReservations:
    optout_runs, counts_by_signal, snapshots = [], Counter(), set()
    for label, run in facts.runs:
        run_sources = [source for source in facts.sources if source.run_obj is run]
        filtered = [source.id for source in run_sources if source.entry["steps"]["optout"]]
        unfiltered = [source.id for source in run_sources if not source.entry["steps"]["optout"]]
        if run.lock["optout"] is None:
            if filtered:
                raise RunError(
                    f"{run.dir}: sources {', '.join(filtered)} have opt-out filtering on but the lock "
                    "records no opt-out snapshot"
                )
            continue
        optout, tokens, counts = _optout_facts(run)
        if optout["snapshot_id"] not in snapshots:  # runs that share a snapshot count its hosts once
            snapshots.add(optout["snapshot_id"])
            counts_by_signal.update(counts.get("reserving_hosts_by_signal", {}))
        optout_runs.append(
            OptOutRun(
                run=label,
                snapshot_id=optout["snapshot_id"],
                as_of=str(optout["as_of"]),
                agent_list=optout["agent_list"],
                agent_tokens=tokens,
                granularity=optout["granularity"],
                strict=bool(optout.get("strict")),
                sources_filtered=filtered,
                sources_not_filtered=unfiltered,
            )
        )
    removals, totals = [], defaultdict(lambda: [0, 0])
    for source in facts.sources:
        for reason in sorted(source.entry["documents"]["removed"]):
            if reason not in OPTOUT_SIGNALS and reason != "invalid-url":
                continue
            documents = int(source.entry["documents"]["removed"][reason])
            tokens = int(source.entry["tokens"]["removed"][reason])
            removals.append(
                RemovalRow(run=source.run, source_id=source.id, reason=reason, documents=documents, tokens=tokens)
            )
            totals[reason][0] += documents
            totals[reason][1] += tokens
    strict = any(item.strict for item in optout_runs)
    protocols = [
        Protocol(
            signal=signal,
            name=PROTOCOLS[signal][0],
            rule=PROTOCOLS[signal][1],
            documents_removed=totals[signal][0],
            tokens_removed=totals[signal][1],
        )
        for signal in OPTOUT_SIGNALS
        if signal != "robots-unavailable" or strict
    ]
    signals_total = [
        ReasonTotal(reason=reason, documents=values[0], tokens=values[1])
        for reason, values in sorted(totals.items(), key=lambda item: (-item[1][0], item[0]))
    ]
    optout_documents = sum(values[0] for reason, values in totals.items() if reason in OPTOUT_SIGNALS)
    optout_tokens = sum(values[1] for reason, values in totals.items() if reason in OPTOUT_SIGNALS)

    if optout_runs:
        parts = []
        for item in optout_runs:
            parts.append(
                f"{item.run}: opt-out snapshot {item.snapshot_id[:12]} of the reservations observed up to {item.as_of}, "
                f"agent list '{item.agent_list}' (robots.txt product tokens: {', '.join(item.agent_tokens)}), "
                f"{item.granularity} granularity"
                + (
                    "; an unreachable or unparsable robots.txt counted as a reservation (strict)"
                    if item.strict
                    else "; an unreachable or unparsable robots.txt counted as permissive"
                )
                + f"; applied to {', '.join(item.sources_filtered) or 'no source'}"
                + (
                    f"; not applied to {', '.join(item.sources_not_filtered)} (no opt-out filtering in the recipe, "
                    "e.g. code or curated data without page URLs)"
                    if item.sources_not_filtered
                    else ""
                )
                + "."
            )
        measures = (
            "Before training, every document with a URL was checked against machine-readable reservations of "
            "rights, and removed when at least one applied: "
            + "; ".join(f"{p.name}: {p.rule}" for p in protocols)
            + ". "
            + " ".join(parts)
            + f" In total {optout_documents:,} documents ({optout_tokens:,} tokens) were removed for "
            "reservations (per signal and source below)."
        )
        retroactive = (
            "Retroactive: reservations observed up to the as-of date ("
            + ", ".join(sorted({item.as_of for item in optout_runs}))
            + ") removed documents of every crawl date, including crawls made before the reservation "
            "was published"
            + _date_range(facts.sources)
            + "; granularity "
            + ", ".join(sorted({item.granularity for item in optout_runs}))
            + "."
        )
        if counts_by_signal:
            measures += (
                " Hosts with a reservation in the snapshot(s), by signal: "
                + ", ".join(f"{signal} {count:,}" for signal, count in sorted(counts_by_signal.items()))
                + "."
            )
    else:
        measures = (
            "No opt-out snapshot was applied: no source of the runs was filtered for machine-readable "
            "reservations (none has page URLs to check)."
        )
        retroactive = "Not applicable: no opt-out filtering in the runs."
    return TdmReservations(
        code_of_practice_signatory="Yes" if provider.code_of_practice_signatory else "No",
        measures=measures,
        protocols=protocols,
        optout_runs=optout_runs,
        retroactive=retroactive,
        removals=removals,
        totals=signals_total,
        total_documents_removed=optout_documents,
        total_tokens_removed=optout_tokens,
        complaint_contact=provider.complaint_contact,
    )


def _date_range(sources: list[_Source]) -> str:
    dated = [source for source in sources if source.entry["steps"]["optout"] and source.first_date]
    if not dated:
        return ""
    return (
        f" (the filtered documents are dated {_month(min(s.first_date for s in dated))} to "
        f"{_month(max(s.last_date for s in dated))})"
    )


def _illegal_content(facts: _Facts, provider: Provider) -> IllegalContent:
    from apertus_compliance.pipeline import PLACEHOLDERS

    rows = [
        PiiRow(
            run=source.run,
            source_id=source.id,
            masked=bool(source.entry["steps"]["pii"]),
            emails=source.pii[0],
            ip_addresses=source.pii[1],
            ibans=source.pii[2],
        )
        for source in facts.sources
    ]
    masked = [row for row in rows if row.masked]
    unmasked = [f"{row.run}/{row.source_id}" for row in rows if not row.masked]
    if masked:
        pii_text = (
            f"Personal data masked with regular expressions: email addresses -> {PLACEHOLDERS['email']}, "
            f"IP addresses -> {PLACEHOLDERS['ip']}, IBANs (checksum-validated) -> {PLACEHOLDERS['iban']}, in "
            + ", ".join(f"{row.run}/{row.source_id}" for row in masked)
            + f"; in the kept documents {sum(r.emails for r in masked):,} emails, "
            f"{sum(r.ip_addresses for r in masked):,} IP addresses and {sum(r.ibans for r in masked):,} "
            "IBANs were masked."
        )
        if unmasked:
            pii_text += (
                f" Not masked, as the recipes turn masking off for them (Apertus left code and math "
                f"unmasked because of false positives): {', '.join(unmasked)}."
            )
    else:
        pii_text = "No PII masking was applied: no source of the runs has PII masking on."

    deletion = []
    for label, run in facts.runs:
        listed = run.lock.get("deletion_list")
        if listed:
            redactions = sum(int(entry.get("deletion_list_redactions", 0)) for entry in run.sources.values())
            deletion.append(
                f"{label}: deletion list version {listed['list_version']} (created {listed['created']}, "
                f"payload sha256 {listed['payload_sha256'][:12]}, signing key {listed['signing_key_id']}) "
                f"redacted {redactions:,} occurrences from the training text"
            )
    deletion_text = (
        "; ".join(deletion) + "."
        if deletion
        else "No deletion list was applied to the training text (the recipes name none)."
    )

    filter_rows = []
    for source in facts.sources:
        for reason in sorted(source.entry["documents"]["removed"]):
            if _reason_kind(reason, source.entry) == "filter":
                filter_rows.append(
                    RemovalRow(
                        run=source.run,
                        source_id=source.id,
                        reason=reason,
                        documents=int(source.entry["documents"]["removed"][reason]),
                        tokens=int(source.entry["tokens"]["removed"][reason]),
                    )
                )
    configured = [
        f"{source.label}: {', '.join(source.entry['steps']['filters'])}"
        for source in facts.sources
        if source.entry["steps"].get("filters")
    ]
    filters_text = (
        "Recipe filters (datatrove steps): "
        + "; ".join(configured)
        + ". Removed: "
        + (
            "; ".join(
                f"{row.run}/{row.source_id} {row.reason}: {row.documents:,} documents ({row.tokens:,} tokens)"
                for row in filter_rows
            )
            or "nothing"
        )
        + "."
        if configured
        else "No further filters in the recipes."
    )
    return IllegalContent(
        provider_measures=provider.illegal_content_measures,
        pii_masking=pii_text,
        pii=rows,
        deletion_list=deletion_text,
        filters=filters_text,
        filter_removals=filter_rows,
    )


def _other_information(facts: _Facts, provider: Provider) -> OtherInformation:
    references = []
    for label, run in facts.runs:
        run_sources = [source for source in facts.sources if source.run_obj is run]
        optout = run.lock["optout"]
        references.append(
            RunReference(
                run=label,
                recipe_name=run.lock["recipe"]["name"],
                recipe_sha256=run.lock["recipe"]["sha256"],
                snapshot_id=optout["snapshot_id"] if optout else "None: no opt-out snapshot in this run",
                tokenizer=_tokenizer(run.lock),
                tokens_kept=sum(source.tokens_kept for source in run_sources),
                documents_kept=sum(source.documents_kept for source in run_sources),
            )
        )
    verification = (
        "To verify: `apertus-compliance verify RUN` re-runs the recipe and compares every shard with the "
        "lock; the recipe sha256 and the opt-out snapshot id below pin what was run. "
        + " ".join(f"{ref.run}: recipe sha256 {ref.recipe_sha256}, snapshot {ref.snapshot_id}." for ref in references)
    )
    return OtherInformation(
        provider_information=provider.other_information or "None: the provider file gives no other information.",
        verification=verification,
        runs=references,
    )


# --------------------------------------------------------------------------------------------
# rendering


def summary_json_schema() -> dict:
    return PublicSummary.model_json_schema()


def to_json(summary: PublicSummary) -> str:
    return summary.model_dump_json(indent=2) + "\n"


def _box(checked: bool) -> str:
    return "☒" if checked else "☐"


def _yes_no(answer: str) -> str:
    return f"{_box(answer == 'Yes')} Yes {_box(answer == 'No')} No"


def _md(text: str) -> str:
    """Free text made literal in Markdown: placeholders such as ``<email-pii>`` are not HTML tags,
    a ``*`` agent is not emphasis."""
    for character in "\\`*<[":
        text = text.replace(character, "\\" + character)
    return text


def _cell(value: object) -> str:
    text = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else _md(str(value))
    return text.replace("|", "\\|").replace("\n", " ")


def _table(headers: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return lines + [""]


def to_markdown(summary: PublicSummary) -> str:
    """The summary as Markdown, headed and numbered like the Commission's template."""
    general, sources, processing = summary.general_information, summary.data_sources, summary.data_processing
    ident, model, size = general.provider_identification, general.model_identification, general.modalities_and_size
    out = [
        "# Public Summary of Training Content",
        "",
        f"Template: {summary.template}.",
        "",
        f"Generated by {summary.generated_by}.",
        "",
        "## 1. General information",
        "",
        "### 1.1 Provider identification",
        "",
        f"- **Provider name and contact details:** {_md(ident.provider_name)}, {_md(ident.provider_contact)}",
        f"- **Authorised representative name and contact details:** {_md(ident.authorised_representative)}",
        "",
        "### 1.2 Model identification",
        "",
        "- **Versioned model name(s):** "
        + ", ".join(f"{entry.name} (version {entry.version})" for entry in model.models),
        f"- **Model dependencies:** {_md(model.dependencies)}",
        f"- **Date of placement of the model on the Union market:** {model.placed_on_market}",
        "",
        "### 1.3 Modalities, overall training data size and other characteristics",
        "",
        "**Modalities:** "
        + " ".join(f"{_box(getattr(size.modalities, name) == 'Yes')} {name.capitalize()}" for name in MODALITIES),
        "",
        "**Training data size:**",
        "",
    ]
    for item in size.training_data_size:
        if item.band_options:
            out.append(
                f"- {item.modality.capitalize()}: "
                + " ".join(f"{_box(option == item.band)} {option}" for option in item.band_options)
                + f" — {_md(item.approximate_size)}"
            )
        else:
            out.append(f"- {item.modality.capitalize()}: {_md(item.band)}")
    out += ["", "**Types of content:**", ""]
    out += _table(
        ["Content type", "Description", "Tokens", "Share", "Sources"],
        [
            [t.content_type, t.description, t.tokens, f"{t.share_percent}%", ", ".join(t.sources)]
            for t in size.types_of_content
        ],
    )
    lang = size.linguistic_characteristics
    out += [
        f"**Latest date of data acquisition/collection for model training:** {_md(size.latest_acquisition)}. "
        f"{_md(size.latest_acquisition_note)}",
        "",
        f"**Linguistic characteristics of the overall training data:** {_md(lang.description)}",
        "",
    ]
    out += _table(
        ["Language", "Code", "Tokens", "Share"],
        [[item.language, item.code, item.tokens, f"{item.share_percent}%"] for item in lang.largest],
    )
    if lang.programming_languages:
        out += _table(
            ["Programming language", "Tokens", "Share"],
            [[item.language, item.tokens, f"{item.share_percent}%"] for item in lang.programming_languages],
        )
    out += [
        f"**Other relevant characteristics of the overall training data:** {_md(size.other_characteristics)}",
        "",
        f"**Additional comments:** {_md(size.comments)}",
        "",
        "## 2. List of data sources",
        "",
        "### 2.1 Publicly available datasets",
        "",
        f"Have you used publicly available datasets to train the model? {_yes_no(sources.public_datasets.used)}",
        "",
        f"**Modality(ies) of the content covered:** {_md(sources.public_datasets.modalities)}",
        "",
        "**List of large publicly available datasets:**",
        "",
    ]
    out += _table(
        ["Run", "Source", "Dataset", "Link", "Version", "Licence", "Content type", "Tokens", "Share", "Large"],
        [
            [
                d.run,
                d.source_id,
                d.name,
                d.link,
                d.version,
                d.licence,
                d.content_type,
                d.tokens_kept,
                f"{d.share_percent}%",
                "yes" if d.large else "no",
            ]
            for d in sources.public_datasets.datasets
        ],
    )
    out += [
        f"**Other publicly available datasets:** {_md(sources.public_datasets.other_datasets_description)}",
        "",
        "### 2.2 Private non-publicly available datasets obtained from third parties",
        "",
        "#### 2.2.1 Datasets commercially licensed by rightsholders or their representatives",
        "",
        "Have you concluded transactional commercial licensing agreement(s) with rightsholder(s) or with their "
        f"representatives? {_yes_no(sources.private_datasets.commercially_licensed.used)}",
        "",
        f"**Modalities:** {_md(sources.private_datasets.commercially_licensed.modalities)}",
        "",
        f"**Description:** {_md(sources.private_datasets.commercially_licensed.description)}",
        "",
        "#### 2.2.2 Private datasets obtained from other third parties",
        "",
        "Have you obtained private datasets from third parties that are not licensed as described in Section "
        f"2.2.1? {_yes_no(sources.private_datasets.other_third_parties.used)}",
        "",
        f"**Modalities:** {_md(sources.private_datasets.other_third_parties.modalities)}",
        "",
        f"**Description:** {_md(sources.private_datasets.other_third_parties.description)}",
        "",
        "### 2.3 Data crawled and scraped from online sources",
        "",
    ]
    crawl = sources.crawled_data
    out += [
        f"Were crawlers used by the provider or on its behalf? {_yes_no(crawl.used)}",
        "",
        f"- **Crawler name(s)/identifier(s):** {_md(crawl.crawlers)}",
        f"- **Purposes of the crawler(s):** {_md(crawl.purposes)}",
        f"- **General description of crawler behaviour:** {_md(crawl.behaviour)}",
        f"- **Period of data collection:** {_md(crawl.collection_period)}",
        f"- **Type of content and online sources crawled:** {_md(crawl.content_types)}"
        + (f" (sources: {', '.join(crawl.sources)})" if crawl.sources else ""),
        f"- **Most relevant domain names crawled:** {_md(crawl.domains_rule)}",
        "",
    ]
    if crawl.top_domains:
        out += _table(["Domain", "Bytes", "Documents"], [[d.domain, d.bytes, d.documents] for d in crawl.top_domains])
    user = sources.user_data
    out += [
        "### 2.4 User data",
        "",
        "Was data from user interactions with the AI model (e.g. user input and prompts) used to train the model? "
        f"{_yes_no(user.from_model_interactions)}",
        "",
        "Was data collected from user interactions with the provider's other services or products used to train "
        f"the model? {_yes_no(user.from_other_services)}",
        "",
        f"**Modalities:** {_md(user.modalities)}",
        "",
        f"**Description:** {_md(user.description)}",
        "",
        "### 2.5 Synthetic data",
        "",
        "Was synthetic AI-generated data created by the provider or on their behalf to train the model? "
        f"{_yes_no(sources.synthetic_data.used)}",
        "",
        f"**Modalities:** {_md(sources.synthetic_data.modalities)}",
        "",
        f"**Description:** {_md(sources.synthetic_data.description)}",
        "",
        "### 2.6 Other sources of data",
        "",
        "Have data sources other than those described in Sections 2.1 to 2.5 been used to train the model? "
        f"{_yes_no(sources.other_sources.used)}",
        "",
        f"**Description:** {_md(sources.other_sources.description)}",
        "",
        "## 3. Data processing aspects",
        "",
        "### 3.1 Respect of reservation of rights from text and data mining exception or limitation",
        "",
    ]
    tdm = processing.tdm_reservations
    out += [
        f"Are you a signatory to the General-Purpose AI Code of Practice? {_yes_no(tdm.code_of_practice_signatory)}",
        "",
        f"**Measures implemented before model training to respect reservations of rights:** {_md(tdm.measures)}",
        "",
        f"**Retroactive application:** {_md(tdm.retroactive)}",
        "",
        "**Protocols honoured:**",
        "",
    ]
    out += _table(
        ["Signal", "Protocol", "Reserved when", "Documents removed", "Tokens removed"],
        [[p.signal, p.name, p.rule, p.documents_removed, p.tokens_removed] for p in tdm.protocols],
    )
    for item in tdm.optout_runs:
        out += [
            f"- **{item.run}:** snapshot `{item.snapshot_id}`, as of {item.as_of}, agent list "
            f"`{item.agent_list}` ({', '.join(f'`{token}`' for token in item.agent_tokens)}), "
            f"{item.granularity} granularity"
        ]
    out += ["", "**Removed per signal and source:**", ""]
    out += _table(
        ["Run", "Source", "Signal", "Documents", "Tokens"],
        [[r.run, r.source_id, r.reason, r.documents, r.tokens] for r in tdm.removals]
        + [["total", "", "opt-out signals", tdm.total_documents_removed, tdm.total_tokens_removed]],
    )
    out += [
        f"**Complaints from rights holders:** {_md(tdm.complaint_contact)}",
        "",
        "### 3.2 Removal of illegal content",
        "",
    ]
    illegal = processing.illegal_content
    out += [
        f"**Provider's measures:** {_md(illegal.provider_measures)}",
        "",
        f"**PII masking:** {_md(illegal.pii_masking)}",
        "",
    ]
    out += _table(
        ["Run", "Source", "Masked", "Emails", "IP addresses", "IBANs"],
        [[r.run, r.source_id, "yes" if r.masked else "no", r.emails, r.ip_addresses, r.ibans] for r in illegal.pii],
    )
    out += [
        f"**Deletion list:** {_md(illegal.deletion_list)}",
        "",
        f"**Filters:** {_md(illegal.filters)}",
        "",
        "### 3.3 Other information",
        "",
        _md(processing.other_information.provider_information),
        "",
        _md(processing.other_information.verification),
        "",
    ]
    out += _table(
        ["Run", "Recipe", "Recipe sha256", "Snapshot", "Tokenizer", "Documents", "Tokens"],
        [
            [r.run, r.recipe_name, r.recipe_sha256, r.snapshot_id, r.tokenizer, r.documents_kept, r.tokens_kept]
            for r in processing.other_information.runs
        ],
    )
    return "\n".join(out).rstrip() + "\n"


@cache
def _html_environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    environment = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["number"] = lambda value: f"{value:,}"
    return environment


def to_html(summary: PublicSummary) -> str:
    """The summary as a printable (A4) HTML5 page laid out like the template."""
    return _html_environment().get_template("eu_summary.html.j2").render(s=summary, modalities=MODALITIES)


# --------------------------------------------------------------------------------------------
# what changed between two sets of runs


def _change(old: int, new: int) -> dict:
    return {"old": old, "new": new, "change": new - old}


def _domains(runs: list[Run]) -> dict[str, tuple[int, int]]:
    totals: dict[str, list[int]] = {}
    for run in runs:
        for host, size, count in run.bytes_by_domain():
            row = totals.setdefault(host, [0, 0])
            row[0] += size
            row[1] += count
    return {host: (size, count) for host, (size, count) in totals.items()}


def _side(facts: _Facts) -> dict:
    sources: dict[str, dict] = {}
    datasets: dict[str, set] = defaultdict(set)
    for source in facts.sources:
        row = sources.setdefault(source.id, {"documents": 0, "tokens": 0, "removed": defaultdict(lambda: [0, 0])})
        row["documents"] += source.documents_kept
        row["tokens"] += source.tokens_kept
        for reason, count in source.entry["documents"]["removed"].items():
            row["removed"][reason][0] += int(count)
            row["removed"][reason][1] += int(source.entry["tokens"]["removed"][reason])
        datasets[source.entry["dataset"] or source.entry["homepage"] or source.id].add(source.entry["revision"])
    natural, names, programming, _, _ = _language_tables(facts.sources)
    languages = {names[code]: tokens for code, tokens in natural.items()}
    optout = [
        {"run": label, **{key: (run.lock["optout"] or {}).get(key) for key in ("snapshot_id", "as_of")}}
        for label, run in facts.runs
    ]
    return {
        "sources": sources,
        "datasets": datasets,
        "languages": languages,
        "programming": dict(programming),
        "optout": optout,
        "runs": [label for label, _ in facts.runs],
    }


def diff_summaries(old_runs: list[Run], new_runs: list[Run]) -> dict:
    """What changed from ``old_runs`` to ``new_runs``: kept documents and tokens per source, removals
    per reason (opt-out signals apart), languages, datasets, and the domains whose kept content fell to
    zero (``disappeared``, e.g. after new opt-outs) or appeared. Sources are matched by id, summed
    across runs."""
    old, new = _side(_collect(old_runs)), _side(_collect(new_runs))
    sources, by_reason = {}, defaultdict(lambda: {"documents": [0, 0], "tokens": [0, 0]})
    empty = {"documents": 0, "tokens": 0, "removed": {}}
    for source_id in sorted(set(old["sources"]) | set(new["sources"])):
        before, after = old["sources"].get(source_id, empty), new["sources"].get(source_id, empty)
        removed = {}
        for reason in sorted(set(before["removed"]) | set(after["removed"])):
            was, now = before["removed"].get(reason, [0, 0]), after["removed"].get(reason, [0, 0])
            removed[reason] = {"documents": _change(was[0], now[0]), "tokens": _change(was[1], now[1])}
            by_reason[reason]["documents"][0] += was[0]
            by_reason[reason]["documents"][1] += now[0]
            by_reason[reason]["tokens"][0] += was[1]
            by_reason[reason]["tokens"][1] += now[1]
        sources[source_id] = {
            "status": "added"
            if source_id not in old["sources"]
            else "removed"
            if source_id not in new["sources"]
            else "kept",
            "documents_kept": _change(before["documents"], after["documents"]),
            "tokens_kept": _change(before["tokens"], after["tokens"]),
            "removed": removed,
        }
    removed_by_reason = {
        reason: {"documents": _change(*values["documents"]), "tokens": _change(*values["tokens"])}
        for reason, values in sorted(by_reason.items())
    }

    def language_changes(key: str) -> dict:
        names = sorted(set(old[key]) | set(new[key]))
        return {name: _change(old[key].get(name, 0), new[key].get(name, 0)) for name in names}

    old_datasets, new_datasets = old["datasets"], new["datasets"]
    old_domains, new_domains = _domains(old_runs), _domains(new_runs)
    disappeared = [
        {"domain": host, "old_bytes": size, "old_documents": count}
        for host, (size, count) in sorted(old_domains.items(), key=lambda item: (-item[1][0], item[0]))
        if host not in new_domains
    ]
    appeared = [
        {"domain": host, "new_bytes": size, "new_documents": count}
        for host, (size, count) in sorted(new_domains.items(), key=lambda item: (-item[1][0], item[0]))
        if host not in old_domains
    ]
    old_tokens = sum(row["tokens"] for row in old["sources"].values())
    new_tokens = sum(row["tokens"] for row in new["sources"].values())
    return {
        "old": {"runs": old["runs"], "optout": old["optout"]},
        "new": {"runs": new["runs"], "optout": new["optout"]},
        "totals": {
            "tokens_kept": _change(old_tokens, new_tokens),
            "documents_kept": _change(
                sum(row["documents"] for row in old["sources"].values()),
                sum(row["documents"] for row in new["sources"].values()),
            ),
        },
        "sources": sources,
        "removed_by_reason": removed_by_reason,
        "removed_by_signal": {
            reason: values for reason, values in removed_by_reason.items() if reason in OPTOUT_SIGNALS
        },
        "languages": {
            "natural": language_changes("languages"),
            "programming": language_changes("programming"),
            "added": sorted(set(new["languages"]) - set(old["languages"])),
            "removed": sorted(set(old["languages"]) - set(new["languages"])),
        },
        "datasets": {
            "added": sorted(set(new_datasets) - set(old_datasets)),
            "removed": sorted(set(old_datasets) - set(new_datasets)),
            "revision_changed": [
                {
                    "dataset": name,
                    "old": sorted(map(str, old_datasets[name])),
                    "new": sorted(map(str, new_datasets[name])),
                }
                for name in sorted(set(old_datasets) & set(new_datasets))
                if old_datasets[name] != new_datasets[name]
            ],
        },
        "domains": {
            "old_count": len(old_domains),
            "new_count": len(new_domains),
            "disappeared": disappeared,
            "appeared": appeared,
        },
    }


def _signed(value: int) -> str:
    return f"{value:+,}"


def diff_to_markdown(diff: dict, domain_limit: int = 50) -> str:
    """A ``diff_summaries`` result as Markdown: changes only."""
    out = [
        "# What changed in the training data",
        "",
        f"From {', '.join(diff['old']['runs'])} to {', '.join(diff['new']['runs'])}.",
        "",
    ]
    for side in ("old", "new"):
        for item in diff[side]["optout"]:
            out.append(
                f"- {side}: {item['run']}, opt-out snapshot "
                f"{(item['snapshot_id'] or 'none')[:12]} as of {item['as_of'] or 'none'}"
            )
    totals = diff["totals"]
    out += [
        "",
        f"Tokens kept: {totals['tokens_kept']['old']:,} -> {totals['tokens_kept']['new']:,} "
        f"({_signed(totals['tokens_kept']['change'])}); documents kept: {totals['documents_kept']['old']:,} -> "
        f"{totals['documents_kept']['new']:,} ({_signed(totals['documents_kept']['change'])}).",
        "",
        "## Sources",
        "",
    ]
    rows = [
        [
            source_id,
            row["status"],
            row["documents_kept"]["old"],
            row["documents_kept"]["new"],
            _signed(row["documents_kept"]["change"]),
            row["tokens_kept"]["old"],
            row["tokens_kept"]["new"],
            _signed(row["tokens_kept"]["change"]),
        ]
        for source_id, row in diff["sources"].items()
        if row["status"] != "kept" or row["tokens_kept"]["change"] or row["documents_kept"]["change"]
    ]
    out += (
        _table(
            [
                "Source",
                "Status",
                "Documents (old)",
                "Documents (new)",
                "Change",
                "Tokens (old)",
                "Tokens (new)",
                "Change",
            ],
            rows,
        )
        if rows
        else ["No change in kept documents or tokens.", ""]
    )
    out += ["## Removed per reason", ""]
    rows = [
        [
            source_id,
            reason,
            values["documents"]["old"],
            values["documents"]["new"],
            _signed(values["documents"]["change"]),
            values["tokens"]["old"],
            values["tokens"]["new"],
            _signed(values["tokens"]["change"]),
        ]
        for source_id, row in diff["sources"].items()
        for reason, values in row["removed"].items()
        if values["documents"]["change"] or values["tokens"]["change"]
    ]
    out += (
        _table(
            [
                "Source",
                "Reason",
                "Documents (old)",
                "Documents (new)",
                "Change",
                "Tokens (old)",
                "Tokens (new)",
                "Change",
            ],
            rows,
        )
        if rows
        else ["No change in removals.", ""]
    )
    languages = diff["languages"]
    out += ["## Languages", ""]
    changed = [
        [name, values["old"], values["new"], _signed(values["change"])]
        for name, values in {**languages["natural"], **languages["programming"]}.items()
        if values["change"]
    ]
    out += (
        _table(["Language", "Tokens (old)", "Tokens (new)", "Change"], changed)
        if changed
        else ["No change in tokens per language.", ""]
    )
    if languages["added"] or languages["removed"]:
        out += [
            f"Languages added: {', '.join(languages['added']) or 'none'}; removed: "
            f"{', '.join(languages['removed']) or 'none'}.",
            "",
        ]
    datasets = diff["datasets"]
    out += [
        "## Datasets",
        "",
        f"Added: {', '.join(datasets['added']) or 'none'}. "
        f"Removed: {', '.join(datasets['removed']) or 'none'}. Revision changed: "
        + (
            ", ".join(
                f"{item['dataset']} ({', '.join(item['old'])} -> {', '.join(item['new'])})"
                for item in datasets["revision_changed"]
            )
            or "none"
        )
        + ".",
        "",
    ]
    domains = diff["domains"]
    out += ["## Domains", "", f"Domains with kept content: {domains['old_count']:,} -> {domains['new_count']:,}.", ""]
    for key, label, size in (
        ("disappeared", "Disappeared (kept content fell to zero, e.g. after new opt-outs)", "old_bytes"),
        ("appeared", "Appeared", "new_bytes"),
    ):
        items = domains[key]
        out.append(
            f"**{label}:** "
            + (", ".join(f"{item['domain']} ({item[size]:,} bytes)" for item in items[:domain_limit]) or "none")
            + (f" and {len(items) - domain_limit:,} more" if len(items) > domain_limit else "")
            + "."
        )
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def diff_markdown(old_runs: list[Run], new_runs: list[Run], domain_limit: int = 50) -> str:
    """``diff_summaries`` rendered as Markdown."""
    return diff_to_markdown(diff_summaries(old_runs, new_runs), domain_limit)
