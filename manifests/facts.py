"""One set of facts about the runs a model was trained on: every document builds from here.

API::

    facts = run_facts(run)                     # RunFacts of one opened Run (queries its mixture once)
    facts.sources[0].documents_kept, .tokens_kept, .bytes_kept, .bytes_read, .first_date, .languages
    facts.snapshot                              # SnapshotFacts | None: as-of date, agent tokens, reserving hosts
    facts.languages(), facts.programming_languages()   # list[LanguageShare], largest first
    facts.optout_removed()                      # {signal: documents} over the sources opt-outs ran on
    training = training_facts(runs)             # TrainingFacts over several runs (stages), same methods
    removal_kind("invalid-url", filters=[])    # -> "unverifiable-url"
    source_kind(run_source, source_facts)       # an inventory kind for a run's source ("public"...)
    PROTOCOLS["tdmrep"].name, .rule             # the wording every document uses for a protocol

The sentences that state these facts are in ``templates/_sentences.j2`` (``render.macros()``).

The vocabulary is decided once here:

- **Protocols**: :data:`PROTOCOLS`, one entry per opt-out signal of the registry (``SIGNALS``).
- **Removal reasons**: :func:`removal_kind`. An opt-out is a reservation of rights that a site
  expressed (a signal). ``invalid-url`` is *not* an opt-out: the URL's host could not be read,
  so no reservation could be checked and the document was removed fail-closed; documents count
  it apart from reservations. ``invalid`` is unusable input, a recipe filter's id is a filter,
  ``budget`` is the sampler; any other reason (added by a newer rebuild) is ``other`` and is
  shown by its own name, never dropped.
- **Languages**: :mod:`.languages` (ISO 639-3 code with the macrolanguage folded, two-letter tag
  where one exists, English name); a parallel ``en-de`` document counts half its tokens for each.
- **Snapshot**: the run's ``optout/snapshot/manifest.json`` (or the locked snapshot reference),
  accepted only when its id is the lock's; else the agent list by the lock's name.
- **Sizes**: documents and tokens from the lock; ``bytes_kept`` is the UTF-8 size of the kept
  texts, ``bytes_read`` the size of the input files (None when a hub input has no size).
- **Dates**: first and last document date per source and run (ISO dates as the sources give
  them), the opt-out ``as_of`` date, and ``lock_written`` (the day the run finished, UTC).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from apertus_compliance.manifests.languages import (
    language_tag,
    natural_languages_of,
    programming_language_name,
)
from apertus_compliance.manifests.run import Run, RunError
from apertus_compliance.pipeline import DeletionListEntry, RunLock

if TYPE_CHECKING:
    from apertus_compliance.manifests.inventory import RunSource

__all__ = [
    "PII_CATEGORIES",
    "PROTOCOLS",
    "REMOVAL_KINDS",
    "LanguageShare",
    "Protocol",
    "RunFacts",
    "SnapshotFacts",
    "SourceFacts",
    "TrainingFacts",
    "removal_kind",
    "source_kind",
    "run_facts",
    "training_facts",
]


class _Fact(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Protocol(_Fact):
    signal: str
    """The removal reason and registry signal (``robots``, ``tdmrep``...)."""
    name: str
    """The protocol as a reader knows it."""
    rule: str
    """What counts as a reservation under it."""


PROTOCOLS: dict[str, Protocol] = {
    protocol.signal: protocol
    for protocol in (
        Protocol(
            signal="rightsholder",
            name="Rights-holder reservation lists",
            rule="hosts or URL prefixes whose rights holders reserved their rights directly",
        ),
        Protocol(
            signal="robots",
            name="robots.txt (RFC 9309)",
            rule="a Disallow for the URL in a group for one of the listed AI-training agent tokens "
            "('*' included: a disallow for all bots counts too)",
        ),
        Protocol(
            signal="aipref",
            name="IETF AI Preferences (aipref) Content-Usage",
            rule="'Content-Usage: train-ai=n' as an HTTP header or a robots.txt line, with optional path prefixes",
        ),
        Protocol(
            signal="content-signal",
            name="Content Signals in robots.txt",
            rule="'Content-Signal: ai-train=no' in robots.txt",
        ),
        Protocol(
            signal="tdmrep",
            name="W3C TDM Reservation Protocol (TDMRep)",
            rule="'/.well-known/tdmrep.json' with 'tdm-reservation: 1', the 'tdm-reservation' HTTP header "
            "or the HTML meta tag",
        ),
        Protocol(
            signal="noai",
            name="X-Robots-Tag or HTML robots meta 'noai'",
            rule="'noai' in the X-Robots-Tag HTTP header or in the HTML robots meta tag",
        ),
        Protocol(
            signal="robots-unavailable",
            name="Unavailable robots.txt (strict mode)",
            rule="a robots.txt that could not be fetched or parsed counts as a reservation",
        ),
    )
}
"""Every opt-out signal of the registry, in the order a lookup reports them."""

RemovalKind = Literal["optout", "unverifiable-url", "invalid", "filter", "budget", "other"]
REMOVAL_KINDS: dict[str, str] = {
    "optout": "a machine-readable reservation of rights (opt-out) applied to the document's URL",
    "unverifiable-url": "a URL whose host cannot be read, so no reservation could be checked "
    "(removed, fail-closed; not counted as an opt-out)",
    "invalid": "unusable input (no text, undecodable bytes, no URL where opt-outs need one)",
    "filter": "a filter named in the recipe",
    "budget": "left out by the deterministic sampler once the source's token budget was filled",
    "other": "a removal reason of the rebuild, shown by its own name",
}
"""What each kind of removal reason means, in the words every document uses."""

PII_CATEGORIES: dict[str, str] = {
    "email": "email addresses",
    "ip": "IP addresses (IPv4 and IPv6)",
    "iban": "IBANs (checksum-validated, any grouping)",
}


def source_kind(run_source: RunSource, source: SourceFacts) -> str:
    """The inventory kind of a rebuild run's source: as the inventory overrides it, else the
    provider's crawl when the recipe says so, else a public dataset."""
    override = run_source.sources.get(source.id)
    if override is not None and override.kind is not None:
        return override.kind
    return "crawled-by-provider" if source.crawled_by_provider else "public"


def removal_kind(reason: str, filters: list[str] | tuple[str, ...] = ()) -> RemovalKind:
    """The kind of a removal reason of a source whose recipe filters are ``filters``."""
    if reason in PROTOCOLS:
        return "optout"
    if reason == "invalid-url":
        return "unverifiable-url"
    if reason in ("invalid", "budget"):
        return reason
    return "filter" if reason in filters else "other"


class LanguageShare(_Fact):
    code: str
    """ISO 639-3, macrolanguage folded (``deu``); a label outside the table as the source gives it."""
    name: str
    tokens: int
    share_percent: float
    """Of the natural-language tokens the table covers (programming languages have their own table)."""

    @computed_field
    @property
    def tag(self) -> str:
        """The BCP 47 primary tag (``de``; ``gsw`` where ISO 639-1 has none): what Croissant's
        ``inLanguage`` and the card's ``language`` list."""
        return language_tag(self.code)


class SourceFacts(_Fact):
    run: str
    """The label of the run the source belongs to (its recipe's name)."""
    id: str
    dataset: str | None
    content_type: str
    license: str | None
    homepage: str | None
    revision: str | None
    """The pinned revision the inputs were read at (a hub commit), else the recipe's."""
    crawled_by_provider: bool
    optout: bool
    pii: bool
    public_ip_only: bool
    filters: list[str]
    documents_read: int
    documents_kept: int
    documents_removed: dict[str, int]
    tokens_kept: int
    tokens_removed: dict[str, int]
    tokens_target: int | None
    epochs: int
    """How many times training sees each kept document."""
    extractor: str | None
    """WARC sources: the HTML main-text extractor and its version (``resiliparse 0.15.1``)."""
    budget_binding: bool
    bytes_kept: int
    """UTF-8 bytes of the kept texts."""
    bytes_read: int | None
    """Bytes of the input files read; None when an input's size is not in the lock (a hub file)."""
    first_date: str | None
    last_date: str | None
    language_labels: dict[str, int]
    """Kept tokens per language label as the source gives it (``unknown`` for none)."""
    pii_masked: dict[str, int]
    """Placeholders written per PII category in the kept documents."""
    deletion_list_redactions: int | None

    @property
    def label(self) -> str:
        return f"{self.run}/{self.id}"

    @property
    def tokens_with_repetition(self) -> int:
        """Kept tokens as training sees them: each document ``epochs`` times."""
        return self.tokens_kept * self.epochs

    def removed_by_kind(self, unit: Literal["documents", "tokens"] = "documents") -> dict[str, dict[str, int]]:
        """Removals per kind (every key of :data:`REMOVAL_KINDS`), each ``{reason: count}``."""
        kinds: dict[str, dict[str, int]] = {kind: {} for kind in REMOVAL_KINDS}
        removed = self.documents_removed if unit == "documents" else self.tokens_removed
        for reason, count in removed.items():
            kinds[removal_kind(reason, self.filters)][reason] = count
        return kinds


class SnapshotFacts(_Fact):
    snapshot_id: str
    as_of: str
    granularity: str
    strict: bool
    agent_list: str
    agent_list_version: str | None
    agent_tokens: list[str] | None
    """Robots.txt product tokens whose Disallow counted; None when neither the snapshot manifest
    nor the agent list can be found."""
    reserving_hosts: dict[str, int] | None
    """Hosts reserving per signal in the snapshot; None without its manifest."""

    def protocols(self, removed: dict[str, int]) -> list[Protocol]:
        """The protocols this snapshot honoured: every signal, strict mode's only when on (or when
        it removed documents)."""
        return [
            protocol
            for signal, protocol in PROTOCOLS.items()
            if signal != "robots-unavailable" or self.strict or removed.get(signal)
        ]


def _ranked(counts: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def _percent(part: int, whole: int) -> float:
    return round(100 * part / whole, 2) if whole else 0.0


def _language_shares(sources: list[SourceFacts]) -> list[LanguageShare]:
    counts: Counter[str] = Counter()
    names: dict[str, str] = {}
    for source in sources:
        if source.content_type == "code":
            continue
        for label, tokens in source.language_labels.items():
            if label == "unknown":
                continue
            languages = natural_languages_of(label)
            share = tokens // len(languages)
            for index, (code, name) in enumerate(languages):  # the remainder goes to the first side
                counts[code] += share + (tokens - share * len(languages) if index == 0 else 0)
                names[code] = name
    total = sum(counts.values())
    return [
        LanguageShare(code=code, name=names[code], tokens=tokens, share_percent=_percent(tokens, total))
        for code, tokens in _ranked(counts)
    ]


def _programming_shares(sources: list[SourceFacts]) -> list[LanguageShare]:
    counts: Counter[str] = Counter()
    for source in sources:
        if source.content_type == "code":
            for label, tokens in source.language_labels.items():
                counts[label.lower()] += tokens
    total = sum(counts.values())
    return [
        LanguageShare(
            code=code, name=programming_language_name(code), tokens=tokens, share_percent=_percent(tokens, total)
        )
        for code, tokens in _ranked(counts)
    ]


class _SourcesFacts(_Fact):
    """Sums and tables over ``self.sources`` (a field of one run, a property of several runs)."""

    sources: ClassVar[list[SourceFacts]]

    @property
    def documents_read(self) -> int:
        return sum(source.documents_read for source in self.sources)

    @property
    def documents_kept(self) -> int:
        return sum(source.documents_kept for source in self.sources)

    @property
    def tokens_kept(self) -> int:
        return sum(source.tokens_kept for source in self.sources)

    @property
    def tokens_with_repetition(self) -> int:
        return sum(source.tokens_with_repetition for source in self.sources)

    @property
    def bytes_kept(self) -> int:
        return sum(source.bytes_kept for source in self.sources)

    @property
    def repeated_sources(self) -> list[SourceFacts]:
        """Sources that training sees more than once."""
        return [source for source in self.sources if source.epochs > 1]

    @property
    def first_date(self) -> str | None:
        return min((source.first_date for source in self.sources if source.first_date), default=None)

    @property
    def last_date(self) -> str | None:
        return max((source.last_date for source in self.sources if source.last_date), default=None)

    @property
    def unlabelled_tokens(self) -> int:
        """Kept tokens of natural-language sources without a language label."""
        return sum(source.language_labels.get("unknown", 0) for source in self.sources if source.content_type != "code")

    def languages(self) -> list[LanguageShare]:
        """Natural languages by kept tokens, largest first."""
        return _language_shares(self.sources)

    def programming_languages(self) -> list[LanguageShare]:
        """Programming languages of the code sources by kept tokens, largest first."""
        return _programming_shares(self.sources)

    def content_types(self) -> dict[str, int]:
        """Kept tokens per content type, largest first."""
        counts: Counter[str] = Counter()
        for source in self.sources:
            counts[source.content_type] += source.tokens_kept
        return dict(_ranked(counts))

    def optout_removed(self) -> dict[str, int]:
        """Documents removed per opt-out signal (protocol order), only signals that removed some."""
        totals: Counter[str] = Counter()
        for source in self.sources:
            totals.update(source.removed_by_kind()["optout"])
        return {signal: totals[signal] for signal in PROTOCOLS if totals[signal]}

    def removed_of_kind(self, kind: str) -> int:
        """Documents removed for every reason of one kind (``invalid``, ``unverifiable-url``...)."""
        return sum(sum(source.removed_by_kind()[kind].values()) for source in self.sources)

    def pii_masked(self) -> dict[str, int]:
        """Placeholders written per category over the sources PII masking ran on."""
        return {
            category: sum(source.pii_masked.get(category, 0) for source in self.sources if source.pii)
            for category in PII_CATEGORIES
        }

    def sources_with(self, step: Literal["optout", "pii"]) -> list[SourceFacts]:
        return [source for source in self.sources if getattr(source, step)]

    def licences(self) -> dict[str, list[str]]:
        """Distinct licence -> the ids of the sources under it (``not stated`` when none is given)."""
        found: dict[str, list[str]] = {}
        for source in self.sources:
            found.setdefault(source.license or "not stated", []).append(source.id)
        return found


class RunFacts(_SourcesFacts):
    """The facts of one finished run."""

    dir: Path = Field(exclude=True)
    """Where the run is on this machine (not part of any published document)."""
    label: str
    recipe: str
    recipe_sha256: str
    recipe_bundled: str | None
    recipe_file: str
    """The recipe's file name (the lock carries its text)."""
    seed: int
    tokenizer: str
    tokenizer_kind: str | None
    tokenizer_sha256: str | None
    tokenizer_version: str | None
    snapshot: SnapshotFacts | None
    deletion_list: DeletionListEntry | None
    lock_written: date
    """The day the run's lock was written (UTC): when the run finished."""
    versions: dict[str, str]
    sources: list[SourceFacts]  # type: ignore[misc]  # a field here, the base names it for its sums


class TrainingFacts(_SourcesFacts):
    """The facts of every run a model was trained on (pre-training stages, post-training)."""

    runs: list[RunFacts]

    @property
    def sources(self) -> list[SourceFacts]:  # type: ignore[override]
        """Every source of every run, in run order."""
        return [source for run in self.runs for source in run.sources]

    @property
    def snapshots(self) -> list[SnapshotFacts]:
        return [run.snapshot for run in self.runs if run.snapshot]


def _read_manifest(path: Path, snapshot_id: str) -> dict | None:
    import json

    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RunError(f"{path}: the snapshot manifest is not readable JSON ({error})") from error
    return manifest if manifest.get("snapshot_id") == snapshot_id else None


def snapshot_facts(run: Run) -> SnapshotFacts | None:
    """The opt-out snapshot the run applied, or None when the recipe named none."""
    optout = run.lock.optout
    if optout is None:
        return None
    from apertus_compliance.pipeline import resolve_reference

    candidates = [run.dir / "optout" / "snapshot" / "manifest.json"]
    if reference := run.lock.references.get("optout.snapshot"):
        candidates.append(resolve_reference(reference.path) / "manifest.json")
    manifest = next(
        (found for path in candidates if (found := _read_manifest(path, optout.snapshot_id)) is not None), None
    )
    if manifest is not None:
        agent_list = manifest.get("agent_list", {})
        tokens, version = agent_list.get("tokens"), agent_list.get("version")
        reserving = manifest.get("counts", {}).get("reserving_hosts_by_signal")
    else:
        from apertus_compliance.optout import load_agent_list

        reserving = None
        try:
            listed = load_agent_list(optout.agent_list)
            tokens, version = list(listed.tokens), listed.version
        except ValueError:
            tokens = version = None
    return SnapshotFacts(
        snapshot_id=optout.snapshot_id,
        as_of=optout.as_of,
        granularity=optout.granularity,
        strict=optout.strict,
        agent_list=optout.agent_list,
        agent_list_version=version,
        agent_tokens=list(tokens) if tokens is not None else None,
        reserving_hosts=dict(reserving) if reserving is not None else None,
    )


def _bytes_read(lock: RunLock, source_id: str) -> int | None:
    sizes = [item.size for item in lock.sources[source_id].inputs]
    return None if any(size is None for size in sizes) else sum(sizes)


_MIXTURE_FIGURES: dict[tuple, tuple[dict, dict]] = {}
"""Query results per mixture (run folder and shard hashes): documents of one run are built from
the same figures without scanning its shards again. Bounded: a process documents a few runs."""


def _mixture_figures(run: Run) -> tuple[dict[str, Counter[str]], dict[str, tuple]]:
    """Kept tokens per source and language label, and per source: first and last date, UTF-8
    bytes of text, PII placeholders (one scan of the shards)."""
    key = (run.dir, tuple((shard.path, shard.sha256) for shard in run.lock.outputs))
    if key not in _MIXTURE_FIGURES:
        labels: dict[str, Counter[str]] = {}
        sizes: dict[str, tuple] = {}
        if run.lock.outputs:  # an empty mixture has no shards, hence no rows (nor pii columns) to read
            for source_id, language, tokens in run.query(
                "SELECT source, coalesce(nullif(trim(language), ''), 'unknown'), sum(tokens) FROM mixture GROUP BY 1, 2"
            ):
                labels.setdefault(source_id, Counter())[language] += int(tokens or 0)
            for source_id, *row in run.query(
                "SELECT source, min(try_cast(left(date, 10) AS DATE)), max(try_cast(left(date, 10) AS DATE)), "
                "sum(strlen(text)), sum(pii_email), sum(pii_ip), sum(pii_iban) FROM mixture GROUP BY 1"
            ):
                sizes[source_id] = tuple(row)
        if len(_MIXTURE_FIGURES) >= 16:
            _MIXTURE_FIGURES.pop(next(iter(_MIXTURE_FIGURES)))
        _MIXTURE_FIGURES[key] = (labels, sizes)
    return _MIXTURE_FIGURES[key]


def run_facts(run: Run, label: str | None = None) -> RunFacts:
    """The facts of ``run`` (``label`` names it among several runs; default: its recipe's name)."""
    lock = run.lock
    found, sizes = _mixture_figures(run)
    labels = {source_id: found.get(source_id, Counter()) for source_id in lock.sources}
    sources = []
    for source_id, entry in lock.sources.items():
        first, last, size, email, ip, iban = sizes.get(source_id, (None, None, 0, 0, 0, 0))
        if sum(labels[source_id].values()) != entry.tokens.kept:
            raise RunError(
                f"{run.dir}: source {source_id}: the shards hold {sum(labels[source_id].values()):,} tokens, "
                f"the lock says {entry.tokens.kept:,}"
            )
        sources.append(
            SourceFacts(
                run=label or lock.recipe.name,
                id=source_id,
                dataset=entry.dataset,
                content_type=entry.content_type,
                license=entry.license,
                homepage=entry.homepage,
                revision=entry.pinned_revision,
                crawled_by_provider=entry.crawled_by_provider,
                optout=entry.steps.optout and lock.optout is not None,
                pii=entry.steps.pii,
                public_ip_only=entry.steps.public_ip_only,
                filters=list(entry.steps.filters),
                documents_read=entry.documents.read,
                documents_kept=entry.documents.kept,
                documents_removed=dict(entry.documents.removed),
                tokens_kept=entry.tokens.kept,
                tokens_removed=dict(entry.tokens.removed),
                tokens_target=entry.tokens.target,
                epochs=entry.epochs,
                extractor=" ".join(filter(None, (entry.extractor.name, entry.extractor.version)))
                if entry.extractor
                else None,
                budget_binding=entry.budget.binding or bool(entry.documents.removed.get("budget")),
                bytes_kept=int(size or 0),
                bytes_read=_bytes_read(lock, source_id),
                first_date=first.isoformat() if first else None,
                last_date=last.isoformat() if last else None,
                language_labels=dict(_ranked(labels[source_id])),
                pii_masked={"email": int(email or 0), "ip": int(ip or 0), "iban": int(iban or 0)},
                deletion_list_redactions=entry.deletion_list_redactions,
            )
        )
    from apertus_compliance.pipeline import LOCK_NAME

    return RunFacts(
        dir=run.dir,
        label=label or lock.recipe.name,
        recipe=lock.recipe.name,
        recipe_sha256=lock.recipe.sha256,
        recipe_bundled=lock.recipe.bundled,
        recipe_file=Path(lock.recipe.path).name,
        seed=lock.recipe.seed,
        tokenizer=lock.tokenizer.name,
        tokenizer_kind=lock.tokenizer.kind,
        tokenizer_sha256=lock.tokenizer.sha256,
        tokenizer_version=lock.tokenizer.version,
        snapshot=snapshot_facts(run),
        deletion_list=lock.deletion_list,
        lock_written=datetime.fromtimestamp((run.dir / LOCK_NAME).stat().st_mtime, UTC).date(),
        versions=dict(lock.versions),
        sources=sources,
    )


def training_facts(runs: list[Run]) -> TrainingFacts:
    """The facts of every run a model was trained on; runs whose recipes share a name are told
    apart by their folder (``phase5 (run-a)``)."""
    if not runs:
        raise RunError("no runs given: the documents describe at least one finished rebuild")
    dirs = [run.dir for run in runs]
    if len(set(dirs)) != len(dirs):
        raise RunError("the same run was given twice: its figures would be counted twice")
    names = Counter(run.lock.recipe.name for run in runs)
    facts = [
        run_facts(
            run,
            run.lock.recipe.name if names[run.lock.recipe.name] == 1 else f"{run.lock.recipe.name} ({run.dir.name})",
        )
        for run in runs
    ]
    return TrainingFacts(runs=facts)
