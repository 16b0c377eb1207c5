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
written. ``url`` (required by Croissant 1.1) is where the dataset is published; without one it
is the run folder's ``file:`` URL, which says honestly that it is not published yet.

RAI fields come from :mod:`.facts` and say only what ran: ``rai:dataCollectionTimeframe`` is the
first and last document date of the mixture, ``rai:dataCollectionMissingData`` counts the rows
removed as unusable, and ``rai:dataBiases`` has one entry per step that ran (opt-outs, each
recipe filter, the budget, PII masking) besides the language shares. Every sentence is a macro
of ``templates/croissant.j2`` or of the shared ``templates/_sentences.j2``.
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

from apertus_compliance.manifests.facts import RunFacts, run_facts
from apertus_compliance.manifests.inventory import ProviderDetails
from apertus_compliance.manifests.render import macros
from apertus_compliance.manifests.run import Run

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
    "tokens": ("cr:Int64", "Tokens of the text as written (after masking), without BOS/EOS."),
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


def _license(facts: RunFacts) -> str | list[dict]:
    found = facts.licences()
    if len(found) == 1:
        (licence,) = found
        return licence_url(licence) or licence
    works = []
    for licence, source_ids in found.items():
        work = {
            "@type": "sc:CreativeWork",
            "name": licence,
            "description": macros("croissant.j2").licence_scope(source_ids),
        }
        if url := licence_url(licence):
            work["url"] = url
        works.append(work)
    return works


def _file_objects(run: Run, base: Path) -> list[dict]:
    say = macros("croissant.j2")
    return [
        {
            "@type": "cr:FileObject",
            "@id": shard.path,
            "name": shard.path,
            "description": say.shard(shard),
            "contentUrl": Path(os.path.relpath(run.dir / shard.path, base)).as_posix(),
            "contentSize": f"{(run.dir / shard.path).stat().st_size} B",
            "encodingFormat": PARQUET,
            "sha256": shard.sha256,
        }
        for shard in run.lock.outputs
    ]


def _file_set(run: Run, base: Path) -> dict:
    prefix = Path(os.path.relpath(run.dir, base)).as_posix()
    prefix = "" if prefix == "." else prefix + "/"
    return {
        "@type": "cr:FileSet",
        "@id": FILE_SET_ID,
        "name": FILE_SET_ID,
        "description": macros("croissant.j2").file_set(),
        "encodingFormat": PARQUET,
        "includes": [f"{prefix}mixture/{source_id}/*.parquet" for source_id in run.sources],
    }


def _record_set() -> dict:
    return {
        "@type": "cr:RecordSet",
        "@id": RECORD_SET_ID,
        "name": RECORD_SET_ID,
        "description": macros("croissant.j2").record_set(),
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


def bias_statements(facts: RunFacts) -> list[str]:
    """One statement per step that ran and shapes what the mixture over- or under-represents
    (Croissant's ``rai:dataBiases`` and the card's bias section)."""
    say = macros()
    biases = [say.bias_languages(facts)]
    if facts.sources_with("optout"):
        biases.append(say.bias_optout(facts))
    biases += [say.bias_filter(source, filter_id) for source in facts.sources for filter_id in source.filters]
    if any(source.budget_binding for source in facts.sources):
        biases.append(say.bias_budget(facts))
    if facts.sources_with("pii"):
        biases.append(say.bias_pii(facts))
    return [*biases, say.no_classifier()]


def _rai(facts: RunFacts, provider: ProviderDetails) -> dict:
    say, shared = macros("croissant.j2"), macros()
    crawled = any(source.crawled_by_provider for source in facts.sources)
    preprocessing = [
        shared.extraction(facts),
        shared.invalid(facts),
        shared.optout(facts),
        shared.pii(facts),
        shared.deletion_list(facts),
        shared.filters(facts),
        shared.other_removals(facts),
        shared.budget(facts),
        shared.repetition(facts),
        say.counts_per_source(facts),
        shared.conservation(),
    ]
    rai = {
        "rai:dataCollection": say.collection(facts),
        "rai:dataCollectionType": ["Secondary Data analysis"]
        + (["Web Scraping"] if crawled or provider.crawling else []),
        "rai:dataCollectionRawData": say.raw_data(facts),
        "rai:dataCollectionMissingData": say.missing_data(facts),
        "rai:dataPreprocessingProtocol": [text for text in preprocessing if text],
        "rai:personalSensitiveInformation": [say.pii_placeholders(facts), shared.deletion_list(facts)],
        "rai:dataBiases": bias_statements(facts),
        "rai:dataLimitations": [
            shared.optout_limitation(facts),
            shared.limitation_pii(),
            shared.tokenizer(facts),
            shared.limitation_labels(),
        ],
        "rai:dataSocialImpact": say.social_impact(),
        "rai:dataUseCases": [say.use_case()],
        "rai:dataReleaseMaintenancePlan": say.maintenance(),
    }
    if facts.first_date and facts.last_date:
        rai["rai:dataCollectionTimeframe"] = [facts.first_date, facts.last_date]
    return rai


def croissant_metadata(
    run: Run,
    provider: ProviderDetails,
    name: str | None = None,
    base: str | Path | None = None,
    date_published: date | None = None,
    url: str | None = None,
) -> dict:
    """Croissant 1.1 + RAI JSON-LD for ``run``'s mixture, published by ``provider`` (an
    inventory's provider: ``load_inventory(...).provider`` or ``inventory_from_provider``).

    ``base`` is the folder the Croissant file will live in (paths are relative to it; default:
    the run folder). ``date_published`` defaults to the day the run's lock was written; ``url``
    (where the dataset is published) to the run folder's ``file:`` URL.
    """
    base = Path(base).resolve() if base is not None else run.dir
    facts = run_facts(run)
    say = macros("croissant.j2")
    metadata = {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": [CROISSANT_1_1, RAI_1_0],
        "name": name or facts.recipe,
        "description": say.description(facts, provider.name),
        "url": url or run.dir.as_uri(),
        "license": _license(facts),
        "creator": {"@type": "sc:Organization", "name": provider.name, "email": provider.contact},
        "datePublished": (date_published or facts.lock_written).isoformat(),
        "version": f"0.0.0+{facts.recipe_sha256[:12]}",
        "citeAs": say.cite_as(provider.name, name or facts.recipe, facts),
        "inLanguage": [language.tag for language in facts.languages()],
        "keywords": ["language model pre-training", "text", *sorted(facts.content_types())],
        "distribution": [*_file_objects(run, base), _file_set(run, base)],
        "recordSet": [_record_set()],
    }
    return metadata | _rai(facts, provider)


def write_croissant(
    run: Run,
    provider: ProviderDetails,
    out_path: str | Path | None = None,
    name: str | None = None,
    url: str | None = None,
) -> Path:
    """Write the Croissant file (default ``<run>/croissant.json``); paths inside are relative to it."""
    out_path = Path(out_path) if out_path is not None else run.dir / "croissant.json"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    metadata = croissant_metadata(run, provider, name=name, base=out_path.parent, url=url)
    out_path.write_text(json.dumps(metadata, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return out_path
