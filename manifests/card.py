"""A Hugging Face dataset card (``README.md`` with YAML front matter) for a run's mixture.

The front matter is what the hub reads: licences (hub ids; ``other`` for a licence the hub does
not list), language codes (ISO 639-1 where one exists, plus ``code`` when code sources are
present), the size band of the kept documents, and one config per source over
``mixture/<source>/*.parquet`` next to a ``default`` config over all shards. The body's figures
are the lock's; the opt-out and PII paragraphs are the ones the other documents use.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from apertus_compliance.manifests.croissant import licence_ids
from apertus_compliance.manifests.model_doc import (
    OPTOUT_REASONS,
    PII_CATEGORIES,
    PROTOCOLS,
    deletion_list_text,
    filters_text,
    natural_languages,
    pii_masked,
    removed_by_kind,
    snapshot_manifest,
    sources_with,
    tokenizer_text,
)
from apertus_compliance.manifests.provider import Provider
from apertus_compliance.manifests.run import Run
from apertus_compliance.optout import SIGNALS
from apertus_compliance.pipeline import PLACEHOLDERS

SIZE_BANDS = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
    (10_000_000_000, "1B<n<10B"),
    (100_000_000_000, "10B<n<100B"),
    (1_000_000_000_000, "100B<n<1T"),
)


def size_category(documents: int) -> str:
    """The hub's ``size_categories`` band for a number of documents."""
    for limit, band in SIZE_BANDS:
        if documents < limit:
            return band
    return "n>1T"


def hub_licences(run: Run) -> list[str]:
    """Hub licence ids of the sources, in source order, ``other`` for unknown or missing ones."""
    found = []
    for entry in run.sources.values():
        ids = licence_ids(entry.get("license"))
        found.append(ids[1] if ids else "other")
    return list(dict.fromkeys(found))


def front_matter(run: Run, provider: Provider, pretty_name: str | None = None) -> dict:
    natural, programming = natural_languages(run)
    languages = [code for code in natural if code != "unknown"] + (["code"] if programming else [])
    licences = hub_licences(run)
    documents = sum(entry["documents"]["kept"] for entry in run.sources.values())
    configs = [
        {"config_name": "default", "default": True, "data_files": [{"split": "train", "path": "mixture/*/*.parquet"}]}
    ]
    configs += [
        {"config_name": source_id, "data_files": [{"split": "train", "path": f"mixture/{source_id}/*.parquet"}]}
        for source_id in run.sources
    ]
    return {
        "pretty_name": pretty_name or f"{run.lock['recipe']['name']} training mixture",
        "license": licences[0] if len(licences) == 1 else licences,
        "language": languages,
        "multilinguality": "multilingual" if len([code for code in languages if code != "code"]) > 1 else "monolingual",
        "task_categories": ["text-generation"],
        "task_ids": ["language-modeling"],
        "size_categories": [size_category(documents)],
        "configs": configs,
        "tags": ["pretraining", "opt-out-filtered", "croissant"],
    }


def _table(header: list[str], rows: list[list[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]


def _reproduce_recipe(run: Run) -> tuple[str, str]:
    """How the card's commands name the locked recipe, and a sentence saying where it is: a recipe
    shipped with the package by its name (``--recipe sample`` works from any installation), any
    other by its file name, its text being in the lock."""
    entry = run.lock["recipe"]
    if entry.get("bundled"):
        return entry["bundled"], f"`{entry['bundled']}` is a recipe shipped with the package."
    name = Path(entry["path"]).name
    where = " (its text is `recipe.text` in `rebuild.lock.json`)" if "text" in entry else ""
    return name, f"`{name}` is the recipe file{where}, next to the inputs it names."


def _version_note(name: str, version: str | None) -> str:
    """`` 2025-01`` after an agent list's name, unless the name already says it."""
    return f" {version}" if version and version not in name else ""


def _removed_cell(removed: dict[str, int]) -> str:
    return ", ".join(f"{reason} {count:,}" for reason, count in removed.items()) or "none"


def dataset_card(run: Run, provider: Provider, pretty_name: str | None = None) -> str:
    """The README.md of the mixture, as a string."""
    lock, sources = run.lock, run.sources
    meta = front_matter(run, provider, pretty_name)
    documents = sum(entry["documents"]["kept"] for entry in sources.values())
    tokens = sum(entry["tokens"]["kept"] for entry in sources.values())
    natural, programming = natural_languages(run)
    lines = [
        "---",
        yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).rstrip(),
        "---",
        "",
        f"# {meta['pretty_name']}",
        "",
        "## Summary",
        "",
        f"A text mixture for language-model pre-training, rebuilt by {provider.provider} ({provider.contact}) "
        f"from the recipe `{lock['recipe']['name']}` (sha256 `{lock['recipe']['sha256']}`) with "
        f"apertus-compliance: "
        f"{documents:,} documents and {tokens:,} tokens from {len(sources)} sources. Tokens are "
        f"{tokenizer_text(lock)}.",
        "",
    ]
    latest = run.latest_date()
    if latest:
        lines += [f"Latest document date: {latest}.", ""]
    lines += ["Each document keeps the licence of its source (table below).", "", "## Sources", ""]
    lines += _table(
        ["source", "dataset", "content type", "licence", "read", "kept", "removed", "tokens kept", "token budget"],
        [
            [
                source_id,
                entry.get("dataset") or "",
                entry["content_type"],
                entry.get("license") or "not stated",
                f"{entry['documents']['read']:,}",
                f"{entry['documents']['kept']:,}",
                _removed_cell(entry["documents"]["removed"]),
                f"{entry['tokens']['kept']:,}",
                f"{entry['tokens']['target']:,}",
            ]
            for source_id, entry in sources.items()
        ],
    )
    lines += [
        "",
        "Every document read is either in `mixture/` or in `removed/<reason>/<source>/` with the evidence "
        "of its removal; per source, read = kept + removed.",
        "",
        "## Languages",
        "",
    ]
    total = tokens or 1
    rows = [[code, f"{count:,}", f"{100 * count / total:.1f}%"] for code, count in natural.items()]
    rows += [[f"code: {name}", f"{count:,}", f"{100 * count / total:.1f}%"] for name, count in programming.items()]
    lines += _table(["language", "tokens kept", "share"], rows)
    lines += ["", "Parallel documents count half their tokens for each language.", "", "## Opt-outs honoured", ""]
    lines += _optout_section(run)
    lines += ["", "## PII masking", ""] + _pii_section(run)
    lines += ["", "## Other filters and the token budget", ""]
    if text := filters_text(run):
        lines += [text, ""]
    binding = [source_id for source_id, entry in sources.items() if removed_by_kind(entry)["budget"]]
    lines += [
        f"Per source, documents are kept in order of a keyed BLAKE2b hash of their id (seed "
        f"{lock['recipe']['seed']}) until the token budget is reached, so the choice does not depend on "
        f"order or workers. The budget removed documents from: {', '.join(binding) or 'no source'}.",
        "",
    ]
    recipe, where = _reproduce_recipe(run)
    lines += [
        "## How to reproduce",
        "",
        "```bash",
        "pip install apertus-compliance",
        f"apertus-compliance rebuild --recipe {recipe} --out run",
        "apertus-compliance verify run",
        "```",
        "",
        f"{where} The recipe must have sha256 `{lock['recipe']['sha256']}`; `verify` re-runs the recipe "
        "its lock carries into a temporary folder and compares every count and shard hash with "
        "`rebuild.lock.json` (this folder verifies the same way: `apertus-compliance verify .`). Output "
        "does not depend on the number of workers.",
        "",
        "## Lock",
        "",
    ]
    optout = lock.get("optout")
    facts = [
        ["recipe", f"`{lock['recipe']['name']}`", f"`{lock['recipe']['sha256']}`"],
        [
            "tokenizer",
            lock["tokenizer"]["name"],
            f"`{lock['tokenizer']['sha256']}`" if lock["tokenizer"].get("sha256") else "",
        ],
    ]
    if optout:
        facts.append(["opt-out snapshot", f"as of {optout['as_of']}", f"`{optout['snapshot_id']}`"])
    if lock.get("deletion_list"):
        listed = lock["deletion_list"]
        facts.append(["deletion list", listed["list_version"], f"`{listed['payload_sha256']}`"])
    lines += _table(["what", "name", "sha256"], facts)
    lines += ["", "Mixture shards:", ""]
    lines += _table(
        ["path", "documents", "tokens", "sha256"],
        [
            [f"`{shard['path']}`", f"{shard['documents']:,}", f"{shard['tokens']:,}", f"`{shard['sha256']}`"]
            for shard in lock["outputs"]
        ],
    )
    inputs = [
        [
            source_id,
            f"`{item['path']}`",
            f"`{item['sha256']}`" if item.get("sha256") else f"revision {item.get('revision')}",
        ]
        for source_id, entry in sources.items()
        for item in entry.get("inputs", [])
    ]
    if inputs:
        lines += ["", "Inputs:", ""] + _table(["source", "file", "sha256 or revision"], inputs)
    versions = ", ".join(f"{name} {value}" for name, value in lock.get("versions", {}).items())
    lines += [
        "",
        f"Built with: {versions}.",
        "",
        "## Contact",
        "",
        f"{provider.provider}: {provider.contact}. Copyright complaints: {provider.complaint_contact}.",
        "",
    ]
    return "\n".join(lines)


def _optout_section(run: Run) -> list[str]:
    optout = run.lock.get("optout")
    if not optout:
        return ["No opt-out filtering: the recipe names no opt-out snapshot."]
    manifest = snapshot_manifest(run)
    agent_list = (manifest or {}).get("agent_list", {})
    reserving = (manifest or {}).get("counts", {}).get("reserving_hosts_by_signal", {})
    filtered = sources_with(run, "optout")
    removed = {
        signal: sum(run.sources[source_id]["documents"]["removed"].get(signal, 0) for source_id in filtered)
        for signal in OPTOUT_REASONS
    }
    tokens = ", ".join(f"`{token}`" for token in agent_list.get("tokens", [])) or "(snapshot manifest not found)"
    lines = [
        f"Machine-readable reservations observed on or before **{optout['as_of']}** (snapshot "
        f"`{optout['snapshot_id'][:12]}`, {optout['granularity']} granularity) are applied **retroactively**: a "
        f"reservation removes the site's documents from crawls of every date. Agent list "
        f"`{optout['agent_list']}`{_version_note(optout['agent_list'], agent_list.get('version'))}; a "
        f"robots.txt Disallow for any of these product tokens counts: {tokens}. "
        + (
            "A robots.txt that could not be fetched or parsed counts as a reservation (strict mode)."
            if optout.get("strict")
            else "A robots.txt that could not be fetched or parsed counts as permissive."
        ),
        "",
    ]
    rows = [
        [signal, PROTOCOLS[signal], f"{reserving[signal]:,}" if signal in reserving else "n/a", f"{removed[signal]:,}"]
        for signal in OPTOUT_REASONS
        if (signal in SIGNALS and (signal != "robots-unavailable" or optout.get("strict"))) or removed[signal]
    ]
    lines += _table(["signal", "protocol", "reserving hosts", "documents removed"], rows)
    skipped = [source_id for source_id in run.sources if source_id not in filtered]
    lines += [
        "",
        f"Filtered: {', '.join(filtered) or 'no source'}."
        + (f" Not filtered (no URLs, or off in the recipe): {', '.join(skipped)}." if skipped else ""),
    ]
    return lines


def _pii_section(run: Run) -> list[str]:
    masked_sources = set(sources_with(run, "pii"))
    counts = pii_masked(run)
    lines = [
        "Regular expressions with validation, no model: "
        + ", ".join(f"{PII_CATEGORIES[category]} -> `{placeholder}`" for category, placeholder in PLACEHOLDERS.items())
        + ". Phone numbers, names and postal addresses are not masked. The columns `pii_email`, `pii_ip` and "
        "`pii_iban` count the placeholders per document.",
        "",
    ]
    lines += _table(
        ["source", "masked", "emails", "IP addresses", "IBANs"],
        [
            [
                source_id,
                "yes" if source_id in masked_sources else "no",
                *(f"{counts.get(source_id, {}).get(category, 0):,}" for category in PLACEHOLDERS),
            ]
            for source_id in run.sources
        ],
    )
    listed = deletion_list_text(run)
    lines += ["", listed or "No deletion list was applied."]
    return lines


def write_card(
    run: Run, provider: Provider, out_path: str | Path | None = None, pretty_name: str | None = None
) -> Path:
    """Write the card (default ``<run>/README.md``)."""
    out_path = Path(out_path) if out_path is not None else run.dir / "README.md"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(dataset_card(run, provider, pretty_name), encoding="utf-8")
    return out_path
