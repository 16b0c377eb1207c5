"""The Model Documentation Form's data section and the copyright-policy facts (Code of Practice,
July 2025), computed from the runs a model was trained on and the provider file.

Every figure comes from a run's lock (checked against its shards by :meth:`Run.open`) or from a
DuckDB query over its mixture; every statement about a step is made only when the lock says the
step ran, on the sources it ran on. What a run cannot know (who the provider is, whether it
crawled, user or synthetic data) comes from :class:`Provider`.

The helpers at the top (snapshot manifest, language codes, what each removal reason means) are
shared with :mod:`.croissant` and :mod:`.card`, so the three documents say the same thing.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from apertus_compliance.manifests.languages import ISO_639_3_TO_1
from apertus_compliance.manifests.provider import Provider
from apertus_compliance.manifests.run import Run, RunError
from apertus_compliance.optout import SIGNALS
from apertus_compliance.pipeline import FALLBACK_TOKENIZER, PLACEHOLDERS, RecipeError, load_recipe

# --------------------------------------------------------------------------------------------
# shared facts about a run

OPTOUT_REASONS = (*SIGNALS, "invalid-url")
"""Removal reasons written by the opt-out filter: one per reservation signal, plus URLs whose host
cannot be read (they cannot be checked, so they are not used)."""

PROTOCOLS: dict[str, str] = {
    "robots": "robots.txt (RFC 9309): a Disallow in a group for one of the listed AI-training agent tokens "
    "(or for '*') reserves the path",
    "aipref": "IETF AI preferences (aipref): 'Content-Usage: train-ai=n' as an HTTP header or a robots.txt line",
    "content-signal": "Cloudflare Content Signals in robots.txt: 'Content-Signal: ai-train=no'",
    "tdmrep": "W3C TDMRep: /.well-known/tdmrep.json, the 'tdm-reservation: 1' HTTP header or HTML meta tag",
    "noai": "'noai' in the X-Robots-Tag header or the HTML robots meta tag",
    "rightsholder": "reservation lists sent by rights holders (hosts or URL prefixes)",
    "robots-unavailable": "strict mode: a robots.txt that could not be fetched or parsed counts as a reservation",
    "invalid-url": "a URL whose host cannot be read cannot be checked, so the document is not used",
}
"""What each opt-out signal of a snapshot means, for the documents."""

PII_CATEGORIES = {
    "email": "email addresses",
    "ip": "IP addresses (IPv4 and IPv6)",
    "iban": "IBANs (checksum-validated, any grouping)",
}


def language_code(label: str) -> str:
    """``deu_Latn`` -> ``de``, ``EN`` -> ``en``, ``gsw_Latn`` -> ``gsw``; anything else lower-cased."""
    base = label.strip().split("_")[0].lower()
    return ISO_639_3_TO_1.get(base, base)


def natural_languages(run: Run) -> tuple[dict[str, int], dict[str, int]]:
    """Kept tokens per natural language (ISO code) and per programming language (code sources).

    A parallel document labelled ``en-de`` counts half its tokens for each side; documents with
    no language label are under ``unknown``."""
    languages: Counter[str] = Counter()
    programming: Counter[str] = Counter()
    code_sources = {source_id for source_id, entry in run.sources.items() if entry.get("content_type") == "code"}
    rows = run.query("SELECT source, coalesce(language, 'unknown'), sum(tokens) FROM mixture GROUP BY 1, 2")
    for source_id, label, tokens in rows:
        tokens = int(tokens or 0)
        if source_id in code_sources:
            programming[label.lower()] += tokens
            continue
        parts = [language_code(part) for part in label.split("-")] if label != "unknown" else ["unknown"]
        for index, part in enumerate(parts):  # the remainder goes to the first side: totals stay exact
            share = tokens // len(parts) + (tokens % len(parts) if index == 0 else 0)
            languages[part] += share
    return _ranked(languages), _ranked(programming)


def _ranked(counts: Counter[str]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def snapshot_manifest(run: Run) -> dict | None:
    """The opt-out snapshot manifest the run used (agent tokens, counts per signal), or None.

    Looked for in the run (``optout/snapshot``) and where the locked recipe points; only a
    manifest whose ``snapshot_id`` is the lock's is returned."""
    optout = run.lock.get("optout")
    if not optout:
        return None
    candidates = [run.dir / "optout" / "snapshot" / "manifest.json"]
    recipe_path = Path(run.lock["recipe"]["path"])
    if recipe_path.is_file():
        try:
            loaded = load_recipe(recipe_path)
        except RecipeError:
            loaded = None
        if loaded is not None and loaded.recipe.optout and loaded.recipe.optout.snapshot:
            candidates.append(loaded.resolve(loaded.recipe.optout.snapshot) / "manifest.json")
    for path in candidates:
        if path.is_file():
            try:
                manifest = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            if manifest.get("snapshot_id") == optout["snapshot_id"]:
                return manifest
    return None


def removed_by_kind(entry: dict, unit: str = "documents") -> dict[str, dict[str, int]]:
    """One source's removals split into ``optout`` (per signal), ``invalid``, ``filters`` (per
    recipe filter) and ``budget``."""
    kinds: dict[str, dict[str, int]] = {"optout": {}, "invalid": {}, "filters": {}, "budget": {}}
    for reason, count in entry[unit]["removed"].items():
        kind = (
            "optout"
            if reason in OPTOUT_REASONS
            else "invalid"
            if reason == "invalid"
            else "budget"
            if reason == "budget"
            else "filters"
        )
        kinds[kind][reason] = count
    return kinds


def optout_removed(runs: list[Run]) -> dict[str, int]:
    """Documents removed per opt-out signal, over every source of every run."""
    totals: Counter[str] = Counter()
    for run in runs:
        for entry in run.sources.values():
            totals.update(removed_by_kind(entry)["optout"])
    return {signal: totals[signal] for signal in OPTOUT_REASONS if totals[signal]}


def pii_masked(run: Run) -> dict[str, dict[str, int]]:
    """Placeholders written per source and category (from the mixture's ``pii_*`` columns)."""
    if not run.lock["outputs"]:  # an empty mixture has no shards, hence no pii columns to sum
        return {}
    rows = run.query("SELECT source, sum(pii_email), sum(pii_ip), sum(pii_iban) FROM mixture GROUP BY 1 ORDER BY 1")
    return {
        source_id: {"email": int(email or 0), "ip": int(ip or 0), "iban": int(iban or 0)}
        for source_id, email, ip, iban in rows
    }


def tokenizer_text(lock: dict) -> str:
    tokenizer = lock["tokenizer"]
    if tokenizer.get("kind") == "fallback" or tokenizer.get("name") == FALLBACK_TOKENIZER:
        return f"estimated as ceil(UTF-8 bytes / 4) ('{FALLBACK_TOKENIZER}': the recipe names no tokenizer)"
    return f"counted with the tokenizer {tokenizer['name']}" + (
        f" (sha256 {tokenizer['sha256'][:12]})" if tokenizer.get("sha256") else ""
    )


def sources_with(run: Run, step: str) -> list[str]:
    """Ids of the sources whose ``steps[step]`` is on (``optout``, ``pii``)."""
    return [source_id for source_id, entry in run.sources.items() if entry["steps"].get(step)]


def optout_text(run: Run) -> str:
    """One paragraph on the run's opt-out filtering, true to its lock."""
    optout = run.lock.get("optout")
    if not optout:
        return "No opt-out filtering: the recipe names no opt-out snapshot."
    filtered = sources_with(run, "optout")
    skipped = [source_id for source_id in run.sources if source_id not in filtered]
    removed = Counter()
    for source_id in filtered:
        removed.update(removed_by_kind(run.sources[source_id])["optout"])
    counts = ", ".join(f"{signal} {removed[signal]:,}" for signal in OPTOUT_REASONS if removed[signal]) or "none"
    text = (
        f"Opt-outs as of {optout['as_of']} (snapshot {optout['snapshot_id'][:12]}, agent list "
        f"{optout['agent_list']}, {optout['granularity']} granularity"
        f"{', strict: unreachable robots.txt reserves' if optout.get('strict') else ''}) were applied "
        f"retroactively, whatever the crawl date, to the sources {', '.join(filtered) or '(none)'}; "
        f"documents removed per signal: {counts}."
    )
    if skipped:
        text += f" Not filtered by URL (no URLs, or off in the recipe): {', '.join(skipped)}."
    return text


def pii_text(run: Run) -> str:
    masked_sources = sources_with(run, "pii")
    if not masked_sources:
        return "No PII masking: it is off for every source in the recipe."
    counts = pii_masked(run)
    totals = {
        category: sum(counts.get(source_id, {}).get(category, 0) for source_id in masked_sources)
        for category in PLACEHOLDERS
    }
    placeholders = ", ".join(
        f"{PII_CATEGORIES[category]} -> {placeholder}" for category, placeholder in PLACEHOLDERS.items()
    )
    skipped = [source_id for source_id in run.sources if source_id not in masked_sources]
    text = (
        f"Regular-expression PII masking ({placeholders}) on the sources {', '.join(masked_sources)}; "
        "placeholders in the kept documents: "
        + ", ".join(f"{category} {count:,}" for category, count in totals.items())
        + ". Phone numbers and names are not masked."
    )
    public_only = [source_id for source_id in masked_sources if run.sources[source_id]["steps"].get("public_ip_only")]
    if public_only:
        text += f" Only public IP addresses are masked in {', '.join(public_only)}."
    if skipped:
        text += f" PII masking is off in the recipe for: {', '.join(skipped)}."
    return text


def deletion_list_text(run: Run) -> str | None:
    listed = run.lock.get("deletion_list")
    if not listed:
        return None
    redacted = {
        source_id: entry["deletion_list_redactions"]
        for source_id, entry in run.sources.items()
        if "deletion_list_redactions" in entry
    }
    return (
        f"Deletion list {listed['list_version']} (created {listed['created']}, payload sha256 "
        f"{listed['payload_sha256'][:12]}, signing key {listed['signing_key_id']}) redacted from the sources "
        f"{', '.join(redacted) or '(none)'}: {sum(redacted.values()):,} redactions."
    )


def filters_text(run: Run) -> str | None:
    parts = []
    for source_id, entry in run.sources.items():
        removed = removed_by_kind(entry)["filters"]
        for filter_id in entry["steps"]["filters"]:
            parts.append(f"{filter_id} on {source_id} ({removed.get(filter_id, 0):,} documents removed)")
    return "Recipe filters (datatrove filters named in the recipe): " + "; ".join(parts) + "." if parts else None


def budget_text(run: Run) -> str:
    binding = [source_id for source_id, entry in run.sources.items() if entry.get("budget", {}).get("binding")]
    text = (
        f"Token budgets per source; where the candidates exceed the budget, the documents with the smallest "
        f"keyed hash (BLAKE2b of the document id, seed {run.lock['recipe']['seed']}) are kept until the budget "
        f"is reached, independently of order and worker count."
    )
    return text + (
        f" The budget cut documents from: {', '.join(binding)}." if binding else " No source exceeded its budget."
    )


# --------------------------------------------------------------------------------------------
# Model Documentation Form, data section


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RunReference(_Document):
    recipe: str
    recipe_sha256: str
    snapshot_id: str | None
    as_of: str | None
    tokenizer: str
    deletion_list: str | None


class ProvenanceCategory(_Document):
    category: str
    used: bool
    details: str


class SourceFigures(_Document):
    recipe: str
    id: str
    dataset: str | None
    content_type: str
    license: str | None
    documents_read: int
    documents_kept: int
    documents_removed: dict[str, int]
    tokens_target: int
    tokens_kept: int


class ModelDocumentationData(_Document):
    """The data section of the Model Documentation Form (Code of Practice, July 2025)."""

    provider: str
    models: list[str]
    data_type: list[str]
    modality_details: str
    provenance: list[ProvenanceCategory]
    how_obtained: str
    selection: str
    documents: int
    tokens: int
    tokens_note: str
    languages: dict[str, int]
    """Kept tokens per natural language (ISO 639-1, else 639-3)."""
    programming_languages: dict[str, int]
    content_types: dict[str, int]
    """Kept tokens per content type of the recipe's sources."""
    latest_document_date: str | None
    curation_methods: list[str]
    unsuitable_data_measures: list[str]
    bias_detection: list[str]
    sources: list[SourceFigures]
    runs: list[RunReference]

    def to_markdown(self) -> str:
        return _model_doc_markdown(self)


def _run_reference(run: Run) -> RunReference:
    lock = run.lock
    listed = lock.get("deletion_list")
    return RunReference(
        recipe=lock["recipe"]["name"],
        recipe_sha256=lock["recipe"]["sha256"],
        snapshot_id=(lock.get("optout") or {}).get("snapshot_id"),
        as_of=(lock.get("optout") or {}).get("as_of"),
        tokenizer=lock["tokenizer"]["name"],
        deletion_list=listed["list_version"] if listed else None,
    )


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "0%"


def model_documentation(runs: list[Run], provider: Provider) -> ModelDocumentationData:
    """The data section for a model trained on ``runs`` (one per stage or mixture)."""
    if not runs:
        raise RunError("model documentation needs at least one run")
    entries = [(run, source_id, entry) for run in runs for source_id, entry in run.sources.items()]
    crawled = [source_id for _, source_id, entry in entries if entry.get("crawled_by_provider")]
    public = [
        entry.get("dataset") or source_id for _, source_id, entry in entries if not entry.get("crawled_by_provider")
    ]
    synthetic_sources = [source_id for _, source_id, entry in entries if entry.get("content_type") == "synthetic"]
    crawling = provider.crawling
    provenance = [
        ProvenanceCategory(
            category="web crawl by the provider",
            used=bool(crawled or crawling),
            details=(
                f"crawlers {', '.join(crawling.crawlers)}, {crawling.period_start} to {crawling.period_end}: "
                f"{crawling.purposes}"
                if crawling
                else f"sources marked crawled by the provider: {', '.join(crawled)}"
                if crawled
                else "none: no source was crawled by the provider"
            ),
        ),
        ProvenanceCategory(
            category="private datasets from third parties",
            used=False,
            details=("none: every source of the recipes is a publicly available dataset or the provider's own crawl"),
        ),
        ProvenanceCategory(
            category="user data",
            used=provider.user_data,
            details=("declared in the provider file" if provider.user_data else "none (provider file)"),
        ),
        ProvenanceCategory(
            category="publicly available datasets", used=bool(public), details="; ".join(dict.fromkeys(public))
        ),
        ProvenanceCategory(
            category="synthetic data",
            used=bool(provider.synthetic_data or synthetic_sources),
            details=(
                provider.synthetic_data
                or (
                    f"sources of content type 'synthetic': {', '.join(synthetic_sources)}"
                    if synthetic_sources
                    else "none (provider file and recipes)"
                )
            ),
        ),
        ProvenanceCategory(category="other", used=False, details="none"),
    ]
    documents = sum(entry["documents"]["kept"] for _, _, entry in entries)
    tokens = sum(entry["tokens"]["kept"] for _, _, entry in entries)
    languages: Counter[str] = Counter()
    programming: Counter[str] = Counter()
    content_types: Counter[str] = Counter()
    for run in runs:
        natural, code = natural_languages(run)
        languages.update(natural)
        programming.update(code)
    for _, _, entry in entries:
        content_types[entry["content_type"]] += entry["tokens"]["kept"]
    dates = [date for run in runs if (date := run.latest_date())]
    curation, unsuitable = [], []
    for run in runs:
        prefix = f"[{run.lock['recipe']['name']}] " if len(runs) > 1 else ""
        invalid = sum(removed_by_kind(entry)["invalid"].get("invalid", 0) for entry in run.sources.values())
        steps = [
            optout_text(run),
            pii_text(run),
            deletion_list_text(run),
            filters_text(run),
            f"Unusable rows (no text, undecodable, no URL where opt-outs need one) removed: {invalid:,} documents.",
            budget_text(run),
        ]
        curation += [prefix + step for step in steps if step]
        unsuitable += [
            prefix + step
            for step in (optout_text(run), pii_text(run), deletion_list_text(run), filters_text(run))
            if step
        ]
    unsuitable.append(f"Provider: {provider.illegal_content_measures}")
    unsuitable.append(
        "Every removed document is kept in the run's removed/<reason>/ folder with the evidence "
        "(rule, observation, filter), so each removal can be audited; read = kept + removed per source."
    )
    bias = [
        "No bias or toxicity classifier is run by the rebuild; no demographic or topical balancing is applied "
        "beyond the per-source token budgets.",
        "Language skew is measured and published: "
        + ", ".join(f"{code} {_percent(count, tokens)}" for code, count in list(languages.items())[:8])
        + " of kept tokens.",
        "Content-type shares of kept tokens: "
        + ", ".join(f"{kind} {_percent(count, tokens)}" for kind, count in _ranked(content_types).items())
        + ".",
        "Opt-out filtering removes the documents of sites that reserve AI training, so such sites are "
        "under-represented by design; the removed documents are kept per signal, so the effect can be measured.",
    ]
    tokenizers = sorted({tokenizer_text(run.lock) for run in runs})
    return ModelDocumentationData(
        provider=provider.provider,
        models=[f"{model.name} ({model.version})" for model in provider.models],
        data_type=["text"],
        modality_details=(
            "Text only: " + ", ".join(sorted(content_types)) + " documents (parquet, one row per document)."
        ),
        provenance=provenance,
        how_obtained=(
            "Rebuilt with apertus-compliance (datatrove pipelines) from the recipes "
            + ", ".join(f"{run.lock['recipe']['name']} (sha256 {run.lock['recipe']['sha256'][:12]})" for run in runs)
            + ": each source is read from its published files (pinned by revision or sha256 in the lock), then "
            "filtered and sampled; re-running a recipe reproduces the mixture byte for byte "
            "(apertus-compliance verify)."
        ),
        selection=" ".join(budget_text(run) for run in runs)
        + " Budgets per source: "
        + "; ".join(f"{source_id} {entry['tokens']['target']:,}" for _, source_id, entry in entries)
        + " tokens.",
        documents=documents,
        tokens=tokens,
        tokens_note="Tokens " + "; ".join(tokenizers) + ".",
        languages=_ranked(languages),
        programming_languages=_ranked(programming),
        content_types=_ranked(content_types),
        latest_document_date=max(dates) if dates else None,
        curation_methods=curation,
        unsuitable_data_measures=unsuitable,
        bias_detection=bias,
        sources=[
            SourceFigures(
                recipe=run.lock["recipe"]["name"],
                id=source_id,
                dataset=entry.get("dataset"),
                content_type=entry["content_type"],
                license=entry.get("license"),
                documents_read=entry["documents"]["read"],
                documents_kept=entry["documents"]["kept"],
                documents_removed=entry["documents"]["removed"],
                tokens_target=entry["tokens"]["target"],
                tokens_kept=entry["tokens"]["kept"],
            )
            for run, source_id, entry in entries
        ],
        runs=[_run_reference(run) for run in runs],
    )


def _table(header: list[str], rows: list[list[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]


def _model_doc_markdown(doc: ModelDocumentationData) -> str:
    lines = [
        f"# Model Documentation Form: training data ({doc.provider})",
        "",
        f"Models: {', '.join(doc.models)}",
        "",
        "## Data type and modality",
        "",
        f"{', '.join(doc.data_type)}. {doc.modality_details}",
        "",
        "## Provenance",
        "",
    ]
    lines += _table(
        ["category", "used", "details"],
        [[item.category, "yes" if item.used else "no", item.details] for item in doc.provenance],
    )
    lines += [
        "",
        "## How the data was obtained and selected",
        "",
        doc.how_obtained,
        "",
        doc.selection,
        "",
        "## Number of data points",
        "",
        f"{doc.documents:,} documents, {doc.tokens:,} tokens. {doc.tokens_note}",
        "",
    ]
    lines += _table(
        ["run", "source", "dataset", "content type", "licence", "read", "kept", "tokens kept", "budget"],
        [
            [
                source.recipe,
                source.id,
                source.dataset or "",
                source.content_type,
                source.license or "",
                f"{source.documents_read:,}",
                f"{source.documents_kept:,}",
                f"{source.tokens_kept:,}",
                f"{source.tokens_target:,}",
            ]
            for source in doc.sources
        ],
    )
    lines += [
        "",
        "## Scope and main characteristics",
        "",
        "Languages (kept tokens): " + ", ".join(f"{code} {count:,}" for code, count in doc.languages.items()) + ".",
        "",
    ]
    if doc.programming_languages:
        lines += [
            "Programming languages (kept tokens): "
            + ", ".join(f"{code} {count:,}" for code, count in doc.programming_languages.items())
            + ".",
            "",
        ]
    lines += [
        "Content types (kept tokens): "
        + ", ".join(f"{kind} {count:,}" for kind, count in doc.content_types.items())
        + ".",
        "",
        f"Latest document date: {doc.latest_document_date or 'not recorded by the sources'}.",
        "",
        "## Data curation methods",
        "",
    ]
    lines += [f"- {item}" for item in doc.curation_methods]
    lines += ["", "## Measures against unsuitable data", ""] + [f"- {item}" for item in doc.unsuitable_data_measures]
    lines += ["", "## Bias detection", ""] + [f"- {item}" for item in doc.bias_detection]
    lines += ["", "## Runs", ""]
    lines += _table(
        ["recipe", "recipe sha256", "opt-out snapshot", "as of", "tokenizer", "deletion list"],
        [
            [
                ref.recipe,
                ref.recipe_sha256,
                ref.snapshot_id or "none",
                ref.as_of or "",
                ref.tokenizer,
                ref.deletion_list or "none",
            ]
            for ref in doc.runs
        ],
    )
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# copyright policy facts


class ProtocolHonoured(_Document):
    signal: str
    protocol: str
    reserving_hosts: int | None
    """Hosts that reserve by this signal in the snapshot (None when the manifest is not at hand)."""
    documents_removed: int


class SnapshotReference(_Document):
    recipe: str
    snapshot_id: str
    as_of: str
    granularity: str
    strict: bool
    agent_list: str
    agent_list_version: str | None
    agent_list_sha256: str | None
    agent_tokens: list[str]
    sources_filtered: list[str]
    sources_not_filtered: list[str]


class CopyrightPolicy(_Document):
    """What the Code of Practice's copyright chapter asks a provider to state and follow."""

    provider: str
    models: list[str]
    code_of_practice_signatory: bool
    protocols: list[ProtocolHonoured]
    agent_tokens: list[str]
    """Every robots.txt product token whose Disallow counted, over all runs (``*`` included)."""
    snapshots: list[SnapshotReference]
    as_of: list[str]
    retroactive: str
    unavailable_robots: str
    crawler_behaviour: str
    crawlers: list[str]
    infringing_sites: str
    complaint_contact: str

    def to_markdown(self) -> str:
        return _copyright_markdown(self)


def copyright_policy(runs: list[Run], provider: Provider) -> CopyrightPolicy:
    """The copyright-policy facts of a model trained on ``runs``."""
    if not runs:
        raise RunError("a copyright policy needs at least one run")
    snapshots, reserving, tokens = [], Counter(), set()
    have_manifest = False
    for run in runs:
        optout = run.lock.get("optout")
        if not optout:
            continue
        manifest = snapshot_manifest(run)
        agent_list = (manifest or {}).get("agent_list", {})
        if manifest:
            have_manifest = True
            reserving.update(manifest.get("counts", {}).get("reserving_hosts_by_signal", {}))
        tokens.update(agent_list.get("tokens", []))
        filtered = sources_with(run, "optout")
        snapshots.append(
            SnapshotReference(
                recipe=run.lock["recipe"]["name"],
                snapshot_id=optout["snapshot_id"],
                as_of=optout["as_of"],
                granularity=optout["granularity"],
                strict=bool(optout.get("strict")),
                agent_list=optout["agent_list"],
                agent_list_version=agent_list.get("version"),
                agent_list_sha256=agent_list.get("sha256"),
                agent_tokens=list(agent_list.get("tokens", [])),
                sources_filtered=filtered,
                sources_not_filtered=[source_id for source_id in run.sources if source_id not in filtered],
            )
        )
    removed = optout_removed(runs)
    strict = any(snapshot.strict for snapshot in snapshots)
    protocols = [
        ProtocolHonoured(
            signal=signal,
            protocol=PROTOCOLS[signal],
            reserving_hosts=reserving.get(signal, 0) if have_manifest else None,
            documents_removed=removed.get(signal, 0),
        )
        for signal in OPTOUT_REASONS
        if snapshots and (signal in SIGNALS and (signal != "robots-unavailable" or strict) or removed.get(signal))
    ]
    crawling = provider.crawling
    return CopyrightPolicy(
        provider=provider.provider,
        models=[f"{model.name} ({model.version})" for model in provider.models],
        code_of_practice_signatory=provider.code_of_practice_signatory,
        protocols=protocols,
        agent_tokens=sorted(tokens),
        snapshots=snapshots,
        as_of=sorted({snapshot.as_of for snapshot in snapshots}),
        retroactive=(
            "Retroactive: a reservation observed on or before the as-of date removes the site's documents "
            "from crawls of every date, earlier ones included (a snapshot has no notion of crawl date)."
            if snapshots
            else "No opt-out snapshot was applied."
        ),
        unavailable_robots=(
            "A robots.txt that could not be fetched or parsed counts as a reservation (strict)."
            if strict
            else "A robots.txt that could not be fetched or parsed counts as permissive, "
            "as Apertus counted it; other signals of the host still apply."
        ),
        crawler_behaviour=(
            crawling.behaviour
            if crawling
            else "The provider ran no crawler of its own: all web text comes from public datasets crawled "
            "by third parties (the publishers of the datasets in the recipes); reservations are applied "
            "retroactively at rebuild time."
        ),
        crawlers=list(crawling.crawlers) if crawling else [],
        infringing_sites=(
            "No list of persistently infringing sites is applied by the rebuild itself; rights-holder "
            "reservation lists are. Provider: " + provider.illegal_content_measures
        ),
        complaint_contact=provider.complaint_contact,
    )


def _copyright_markdown(policy: CopyrightPolicy) -> str:
    lines = [
        f"# Copyright policy: {policy.provider}",
        "",
        f"Models: {', '.join(policy.models)}. Code of Practice signatory: "
        f"{'yes' if policy.code_of_practice_signatory else 'no'}.",
        "",
        "## Machine-readable reservations honoured",
        "",
    ]
    lines += _table(
        ["signal", "protocol", "reserving hosts", "documents removed"],
        [
            [
                item.signal,
                item.protocol,
                "n/a" if item.reserving_hosts is None else f"{item.reserving_hosts:,}",
                f"{item.documents_removed:,}",
            ]
            for item in policy.protocols
        ],
    )
    lines += [
        "",
        "AI-training agent tokens whose robots.txt Disallow counts: "
        + (", ".join(f"`{token}`" for token in policy.agent_tokens) or "(snapshot manifest not available)")
        + ".",
        "",
        f"As of: {', '.join(policy.as_of) or 'none'}. {policy.retroactive}",
        "",
        policy.unavailable_robots,
        "",
    ]
    for snapshot in policy.snapshots:
        lines.append(
            f"- {snapshot.recipe}: snapshot {snapshot.snapshot_id} as of {snapshot.as_of}, "
            f"{snapshot.granularity} granularity, agent list {snapshot.agent_list}"
            f"{' ' + snapshot.agent_list_version if snapshot.agent_list_version else ''}; filtered: "
            f"{', '.join(snapshot.sources_filtered) or 'none'}; not filtered: "
            f"{', '.join(snapshot.sources_not_filtered) or 'none'}."
        )
    lines += ["", "## Crawling", "", policy.crawler_behaviour]
    if policy.crawlers:
        lines += ["", "Crawlers: " + ", ".join(policy.crawlers) + "."]
    lines += [
        "",
        "## Persistently infringing sites",
        "",
        policy.infringing_sites,
        "",
        "## Complaints",
        "",
        f"Rights holders can send complaints to {policy.complaint_contact}.",
        "",
    ]
    return "\n".join(lines)


def to_markdown(document: ModelDocumentationData | CopyrightPolicy) -> str:
    """Markdown for either document."""
    return document.to_markdown()
