"""Croissant 1.1 JSON-LD, with the Responsible-AI (RAI 1.0) vocabulary, for a run's mixture.

The metadata describes the files of one finished run: every mixture shard is a ``cr:FileObject``
with its sha256 from the lock; a ``cr:FileSet`` gathers the same shards (one glob per source) so
that one ``cr:RecordSet`` named ``mixture`` can read all of them, with a ``cr:Field`` per column of
:data:`MIXTURE_SCHEMA`. ``contentUrl`` and ``includes`` are paths relative to the folder of the
Croissant file, so the file is written at the run's root by default (``croissant.json``) and
mlcroissant reads the shards from there without any network.

Licences: each document keeps the licence of its source. When every source has the same licence
it is the dataset's ``license`` (its SPDX URL when the licence is a known SPDX id). When they
differ, ``license`` lists one ``sc:CreativeWork`` per distinct licence naming the sources it
covers, and the description lists them per source. No single "most restrictive" licence is
picked: licences such as ODC-By and CC-BY-SA impose different, unordered conditions, and naming
one would misstate the others.

``version`` is ``0.0.0+<first 12 hex digits of the recipe's sha256>``: the recipe is what fixes
the mixture, and semantic-versioning build metadata keeps mlcroissant's version check quiet
without inventing an order between recipes. ``datePublished`` defaults to the day the lock was
written.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime
from pathlib import Path

from apertus_compliance.manifests.model_doc import (
    PII_CATEGORIES,
    deletion_list_text,
    filters_text,
    natural_languages,
    optout_text,
    pii_masked,
    pii_text,
    removed_by_kind,
    sources_with,
    tokenizer_text,
)
from apertus_compliance.manifests.provider import Provider
from apertus_compliance.manifests.run import Run
from apertus_compliance.pipeline import LOCK_NAME

CROISSANT_1_1 = "http://mlcommons.org/croissant/1.1"
RAI_1_0 = "http://mlcommons.org/croissant/RAI/1.0"
PARQUET = "application/x-parquet"
FILE_SET_ID = "mixture-shards"
RECORD_SET_ID = "mixture"

CONTEXT: dict = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "arrayShape": "cr:arrayShape",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "containedIn": "cr:containedIn",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "description": {"@container": "@language"},
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isArray": "cr:isArray",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "name": {"@container": "@language"},
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}
"""The ``@context`` of the Croissant 1.1 specification, with the ``rai`` namespace."""

COLUMNS: dict[str, tuple[str, str]] = {
    "id": ("sc:Text", "Document id, unique within its source (as the source gives it)."),
    "text": ("sc:Text", "The document text, with PII placeholders where masking ran."),
    "url": ("sc:URL", "The URL the document was crawled from; empty for sources without URLs (code)."),
    "date": ("sc:Text", "Crawl or publication date as the source gives it (ISO 8601 when present)."),
    "language": (
        "sc:Text",
        "Language label as the source gives it (ISO 639-3 + script, ISO 639-1, a "
        "language pair such as en-de, or a programming language for code).",
    ),
    "source": ("sc:Text", "Id of the recipe source the document comes from."),
    "tokens": ("cr:Int64", "Tokens of the document as read (before masking)."),
    "sample_key": (
        "cr:UInt64",
        "Keyed BLAKE2b hash of the id with the recipe's seed; the budget keeps the smallest keys.",
    ),
    "pii_email": ("cr:Int32", "Email addresses replaced by <email-pii> in this document."),
    "pii_ip": ("cr:Int32", "IP addresses replaced by <ip-pii> in this document."),
    "pii_iban": ("cr:Int32", "IBANs replaced by <iban-pii> in this document."),
}
"""Croissant data type and description of every column of :data:`MIXTURE_SCHEMA`."""

_LICENCES: dict[str, tuple[str, str]] = {
    # normalized name -> (SPDX id, Hugging Face hub id)
    "cc-by-4.0": ("CC-BY-4.0", "cc-by-4.0"),
    "cc-by-3.0": ("CC-BY-3.0", "cc-by-3.0"),
    "cc-by-sa-4.0": ("CC-BY-SA-4.0", "cc-by-sa-4.0"),
    "cc-by-sa-3.0": ("CC-BY-SA-3.0", "cc-by-sa-3.0"),
    "cc-by-nc-4.0": ("CC-BY-NC-4.0", "cc-by-nc-4.0"),
    "cc-by-nc-sa-4.0": ("CC-BY-NC-SA-4.0", "cc-by-nc-sa-4.0"),
    "cc-by-nd-4.0": ("CC-BY-ND-4.0", "cc-by-nd-4.0"),
    "cc0-1.0": ("CC0-1.0", "cc0-1.0"),
    "odc-by-1.0": ("ODC-By-1.0", "odc-by"),
    "odc-by": ("ODC-By-1.0", "odc-by"),
    "odbl-1.0": ("ODbL-1.0", "odbl"),
    "odbl": ("ODbL-1.0", "odbl"),
    "pddl-1.0": ("PDDL-1.0", "pddl"),
    "apache-2.0": ("Apache-2.0", "apache-2.0"),
    "mit": ("MIT", "mit"),
    "bsd-3-clause": ("BSD-3-Clause", "bsd-3-clause"),
    "gpl-3.0": ("GPL-3.0-only", "gpl-3.0"),
    "lgpl-3.0": ("LGPL-3.0-only", "lgpl-3.0"),
    "unlicense": ("Unlicense", "unlicense"),
    "gfdl-1.3": ("GFDL-1.3-only", "gfdl"),
}


def licence_ids(licence: str | None) -> tuple[str, str] | None:
    """``(SPDX id, hub id)`` for a licence name such as ``CC-BY-4.0`` or ``ODC-By 1.0``, or None."""
    if not licence:
        return None
    key = "-".join(licence.strip().lower().replace("_", " ").replace("-", " ").split())
    return _LICENCES.get(key)


def licence_url(licence: str) -> str | None:
    ids = licence_ids(licence)
    return f"https://spdx.org/licenses/{ids[0]}.html" if ids else None


def licences_by_source(run: Run) -> dict[str, list[str]]:
    """Distinct licence -> the sources under it (``not stated`` when the recipe gives none)."""
    found: dict[str, list[str]] = {}
    for source_id, entry in run.sources.items():
        found.setdefault(entry.get("license") or "not stated", []).append(source_id)
    return found


def _license(run: Run) -> str | list[dict]:
    found = licences_by_source(run)
    if len(found) == 1:
        (licence,) = found
        return licence_url(licence) or licence
    works = []
    for licence, source_ids in found.items():
        work = {
            "@type": "sc:CreativeWork",
            "name": licence,
            "description": f"Applies to the documents of the sources {', '.join(source_ids)}.",
        }
        if url := licence_url(licence):
            work["url"] = url
        works.append(work)
    return works


def _date_published(run: Run) -> str:
    """When the run finished: the lock's modification date (UTC)."""
    return datetime.fromtimestamp((run.dir / LOCK_NAME).stat().st_mtime, UTC).date().isoformat()


def _file_objects(run: Run, base: Path) -> list[dict]:
    objects = []
    for shard in run.lock["outputs"]:
        path = run.dir / shard["path"]
        objects.append(
            {
                "@type": "cr:FileObject",
                "@id": shard["path"],
                "name": shard["path"],
                "description": f"Mixture shard of the source {shard['path'].split('/')[1]}: {shard['documents']:,} "
                f"documents, {shard['tokens']:,} tokens.",
                "contentUrl": Path(os.path.relpath(path, base)).as_posix(),
                "contentSize": f"{path.stat().st_size} B",
                "encodingFormat": PARQUET,
                "sha256": shard["sha256"],
            }
        )
    return objects


def _file_set(run: Run, base: Path) -> dict:
    prefix = Path(os.path.relpath(run.dir, base)).as_posix()
    prefix = "" if prefix == "." else prefix + "/"
    return {
        "@type": "cr:FileSet",
        "@id": FILE_SET_ID,
        "name": FILE_SET_ID,
        "description": "The mixture shards listed as FileObjects (their sha256 are in the lock), one glob per source.",
        "encodingFormat": PARQUET,
        "includes": [f"{prefix}mixture/{source_id}/*.parquet" for source_id in run.sources],
    }


def _record_set() -> dict:
    return {
        "@type": "cr:RecordSet",
        "@id": RECORD_SET_ID,
        "name": RECORD_SET_ID,
        "description": "One record per kept document, all sources together (the source column says which).",
        "key": {"@id": f"{RECORD_SET_ID}/id"},
        "field": [
            {
                "@type": "cr:Field",
                "@id": f"{RECORD_SET_ID}/{column}",
                "name": column,
                "description": description,
                "dataType": data_type,
                "source": {"fileSet": {"@id": FILE_SET_ID}, "extract": {"column": column}},
            }
            for column, (data_type, description) in COLUMNS.items()
        ],
    }


def _description(run: Run, provider: Provider) -> str:
    lock = run.lock
    documents = sum(entry["documents"]["kept"] for entry in run.sources.values())
    tokens = sum(entry["tokens"]["kept"] for entry in run.sources.values())
    per_source = "; ".join(
        f"{source_id}: {entry.get('dataset') or source_id} ({entry.get('license') or 'licence not stated'})"
        for source_id, entry in run.sources.items()
    )
    text = (
        f"Training mixture rebuilt by {provider.provider} from the recipe {lock['recipe']['name']} "
        f"(sha256 {lock['recipe']['sha256']}): {documents:,} documents, {tokens:,} tokens "
        f"({tokenizer_text(lock)}), from {len(run.sources)} sources. Sources and licences: {per_source}."
    )
    if len(licences_by_source(run)) > 1:
        text += " Each document keeps the licence of its source; there is no single licence for the mixture."
    return text + " Verify the files against rebuild.lock.json with 'apertus-compliance verify'."


def _rai(run: Run, provider: Provider) -> dict:
    lock = run.lock
    sources = run.sources
    crawled = [source_id for source_id, entry in sources.items() if entry.get("crawled_by_provider")]
    datasets = "; ".join(
        f"{entry.get('dataset') or source_id} ({entry['content_type']}"
        + (f", revision {entry['revision']}" if entry.get("revision") else "")
        + (f", {entry['homepage']}" if entry.get("homepage") else "")
        + ")"
        for source_id, entry in sources.items()
    )
    collection = (
        f"No new data was collected for this mixture: it was rebuilt with apertus-compliance (datatrove pipelines) "
        f"from the recipe {lock['recipe']['name']}, which reads these published datasets: {datasets}. Input files "
        f"are pinned by sha256 or hub revision in rebuild.lock.json."
        + (
            f" The provider crawled the sources {', '.join(crawled)} itself."
            if crawled
            else " Web documents were crawled by the datasets' publishers, not by the provider."
        )
    )
    collection_type = ["Secondary Data analysis"] + (["Web Scraping"] if crawled or provider.crawling else [])

    counts = []
    for source_id, entry in sources.items():
        kinds = removed_by_kind(entry)
        counts.append(
            f"{source_id}: read {entry['documents']['read']:,}, kept {entry['documents']['kept']:,}, "
            "removed "
            + (", ".join(f"{reason} {count:,}" for reason, count in entry["documents"]["removed"].items()) or "none")
            + f"; tokens kept {entry['tokens']['kept']:,} of a budget of {entry['tokens']['target']:,}"
            + (" (budget binding)" if kinds["budget"] else "")
        )
    preprocessing = [
        "Validation: rows with no text, undecodable bytes or (where opt-outs apply) no usable URL are removed "
        "as 'invalid'.",
        optout_text(run),
        pii_text(run),
        *(text for text in (deletion_list_text(run), filters_text(run)) if text),
        f"Budgets: per source, documents are kept in order of a keyed BLAKE2b hash of their id (seed "
        f"{lock['recipe']['seed']}) until the token budget is reached; the result does not depend on order or workers.",
        "Counts per source (documents unless stated): " + " | ".join(counts) + ".",
        "Every removed document is kept in removed/<reason>/<source>/ with the evidence of its removal.",
    ]

    masked = pii_masked(run)
    masked_sources = sources_with(run, "pii")
    unmasked = [source_id for source_id in sources if source_id not in masked_sources]
    personal = [
        "Masked with fixed placeholders, by regular expressions with validation (no model): "
        + ", ".join(PII_CATEGORIES.values())
        + f", in the sources {', '.join(masked_sources)}; placeholders written: "
        + ", ".join(
            f"{category} {sum(masked.get(source_id, {}).get(category, 0) for source_id in masked_sources):,}"
            for category in PII_CATEGORIES
        )
        + ". The columns pii_email, pii_ip and pii_iban count them per document."
        if masked_sources
        else "No PII masking was applied: it is off for every source in the recipe.",
        "Not masked: names, postal addresses, phone numbers and other personal data that web text can contain"
        + (f"; no masking at all in {', '.join(unmasked)}" if masked_sources and unmasked else "")
        + ".",
    ]
    listed = deletion_list_text(run)
    personal.append(listed or "No deletion list was applied to this run.")

    natural, programming = natural_languages(run)
    total = sum(natural.values()) + sum(programming.values())
    shares = ", ".join(f"{code} {100 * count / total:.1f}%" for code, count in natural.items()) if total else "none"
    biases = [
        f"Languages by share of kept tokens: {shares}"
        + (f"; code {100 * sum(programming.values()) / total:.1f}%" if programming and total else "")
        + ". Languages not listed are absent.",
        "No bias, toxicity or quality classifier was run by the rebuild; the sources' own curation applies.",
        "Opt-out filtering removes the documents of sites (or paths) that reserve AI training, so such "
        "sites are under-represented by design.",
    ]
    limitations = [
        f"Opt-outs are those observed on or before {lock['optout']['as_of']}; later reservations are not reflected "
        "until the mixture is rebuilt with a later snapshot."
        if lock.get("optout")
        else "No opt-out filtering was applied.",
        "PII masking is pattern-based and limited to emails, IP addresses and IBANs; it misses other personal data "
        "and can mask look-alike strings.",
        f"Token counts are {tokenizer_text(lock)}.",
        "Document dates and language labels are as the sources give them.",
    ]
    latest = run.latest_date()
    rai = {
        "rai:dataCollection": collection,
        "rai:dataCollectionType": collection_type,
        "rai:dataCollectionRawData": "Published datasets: " + datasets + ".",
        "rai:dataPreprocessingProtocol": preprocessing,
        "rai:personalSensitiveInformation": personal,
        "rai:dataBiases": biases,
        "rai:dataLimitations": limitations,
        "rai:dataSocialImpact": (
            "Intended for pre-training language models. Honouring opt-outs retroactively and masking contact and "
            "banking identifiers reduce the use of reserved content and of personal data; the published removal "
            "counts let others audit both."
        ),
        "rai:dataUseCases": ["Training (pre-training of language models)."],
        "rai:dataReleaseMaintenancePlan": (
            "The version is the recipe's sha256 prefix; a new opt-out snapshot or deletion list gives a new run and "
            "a new lock. Re-run 'apertus-compliance rebuild' and 'apertus-compliance verify' to reproduce."
        ),
    }
    if latest:
        rai["rai:dataCollectionRawData"] += f" Latest document date: {latest}."
    return rai


def croissant_metadata(
    run: Run,
    provider: Provider,
    name: str | None = None,
    base: str | Path | None = None,
    date_published: date | None = None,
) -> dict:
    """Croissant 1.1 + RAI JSON-LD for ``run``'s mixture.

    ``base`` is the folder the Croissant file will live in (paths are relative to it; default:
    the run folder). ``date_published`` defaults to the day the run's lock was written.
    """
    base = Path(base).resolve() if base is not None else run.dir
    lock = run.lock
    natural, _ = natural_languages(run)
    metadata = {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": [CROISSANT_1_1, RAI_1_0],
        "name": name or lock["recipe"]["name"],
        "description": _description(run, provider),
        "license": _license(run),
        "creator": {"@type": "sc:Organization", "name": provider.provider, "email": provider.contact},
        "datePublished": (date_published or date.fromisoformat(_date_published(run))).isoformat(),
        "version": f"0.0.0+{lock['recipe']['sha256'][:12]}",
        "citeAs": (
            f"{provider.provider}. {name or lock['recipe']['name']}: training mixture rebuilt from recipe "
            f"sha256 {lock['recipe']['sha256']}."
        ),
        "inLanguage": [code for code in natural if code != "unknown"],
        "keywords": ["language model pre-training", "text", *sorted({e["content_type"] for e in run.sources.values()})],
        "distribution": [*_file_objects(run, base), _file_set(run, base)],
        "recordSet": [_record_set()],
    }
    return metadata | _rai(run, provider)


def write_croissant(run: Run, provider: Provider, out_path: str | Path | None = None, name: str | None = None) -> Path:
    """Write the Croissant file (default ``<run>/croissant.json``); paths inside are relative to it."""
    out_path = Path(out_path) if out_path is not None else run.dir / "croissant.json"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    metadata = croissant_metadata(run, provider, name=name, base=out_path.parent)
    out_path.write_text(json.dumps(metadata, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return out_path
