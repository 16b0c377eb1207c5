"""The EU Public Summary of Training Content: every template section, every figure equal to the
lock's, the Apertus answers, HTML5 output, refusal of tampered runs, and the diff between runs."""

import json
import math
import os
import re
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from apertus_compliance.manifests.eu_summary import (
    TEXT_BANDS,
    PublicSummary,
    build_summary,
    diff_markdown,
    diff_summaries,
    summary_json_schema,
    to_html,
    to_json,
    to_markdown,
)
from apertus_compliance.manifests.provider import Provider, load_provider
from apertus_compliance.manifests.run import Run, RunError
from apertus_compliance.optout import SIGNALS, load_agent_list
from apertus_compliance.paths import bundled_data
from apertus_compliance.pipeline.lock import LOCK_FORMAT, LOCK_FORMAT_VERSION, LOCK_NAME, file_sha256
from apertus_compliance.pipeline.rebuild import rebuild
from apertus_compliance.pipeline.recipe import bundled_recipe, load_recipe
from apertus_compliance.pipeline.steps import MIXTURE_SCHEMA, REMOVED_SCHEMA

PROVIDERS = bundled_data() / "providers"
HEADINGS = [
    "## 1. General information",
    "### 1.1 Provider identification",
    "### 1.2 Model identification",
    "### 1.3 Modalities, overall training data size and other characteristics",
    "## 2. List of data sources",
    "### 2.1 Publicly available datasets",
    "### 2.2 Private non-publicly available datasets obtained from third parties",
    "#### 2.2.1 Datasets commercially licensed by rightsholders or their representatives",
    "#### 2.2.2 Private datasets obtained from other third parties",
    "### 2.3 Data crawled and scraped from online sources",
    "### 2.4 User data",
    "### 2.5 Synthetic data",
    "### 2.6 Other sources of data",
    "## 3. Data processing aspects",
    "### 3.1 Respect of reservation of rights from text and data mining exception or limitation",
    "### 3.2 Removal of illegal content",
    "### 3.3 Other information",
]


# --------------------------------------------------------------------------------------------
# fixtures


def _quiet_rebuild(recipe: Path, run_dir: Path) -> Path:
    rebuild(load_recipe(recipe), run_dir, workers=1, echo=lambda message: None)
    return run_dir


@pytest.fixture(scope="session")
def no_optout_dir(tmp_path_factory) -> Path:
    """The sample recipe with opt-out filtering turned off for dclm-edu (a copy, absolute paths)."""
    original = bundled_recipe("sample")
    recipe = yaml.safe_load(original.read_text())
    for source in recipe["sources"]:
        source["location"] = os.path.normpath(original.parent / source["location"])
        if source["id"] == "dclm-edu":
            source["optout"] = False
    folder = tmp_path_factory.mktemp("eu-no-optout")
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    return _quiet_rebuild(folder / "recipe.yaml", folder / "run")


@pytest.fixture(scope="session")
def sample_provider() -> Provider:
    return load_provider(PROVIDERS / "sample.yaml")


@pytest.fixture(scope="session")
def sample_summary(sample_dir, sample_provider) -> PublicSummary:
    return build_summary([Run.open(sample_dir)], sample_provider)


def _copy_run(run_dir: Path, target: Path, edit=None) -> Path:
    """A copy of a run whose lock ``edit`` may change (the lock is not hashed; the shards are)."""
    shutil.copytree(run_dir, target)
    if edit is not None:
        lock = json.loads((target / LOCK_NAME).read_text())
        edit(lock)
        (target / LOCK_NAME).write_text(json.dumps(lock, indent=2, sort_keys=True))
    return target


# Apertus Stage 5 (technical report, Table 6), billions of tokens, as kept tokens.
TABLE_6 = {
    "dclm-edu": 1619,
    "fineweb2-hq": 986,
    "starcoder": 182,
    "stackv2-edu": 68,
    "finemath": 32,
    "infimm-webmath": 19,
    "megamath-web-pro": 15,
    "wikipedia": 33,
    "parallel": 21,
    "task-data": 3,
}
APERTUS_REMOVED = {
    "dclm-edu": {"robots": (2, 4_000_000)},
    "fineweb2-hq": {"robots": (1, 1_500_000), "tdmrep": (1, 700_000)},
}


def _write(path: Path, rows: list[dict], schema: pa.Schema) -> dict:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return {"sha256": file_sha256(path), "documents": len(rows), "tokens": sum(row["tokens"] for row in rows)}


def _apertus_rows(source, kept: int) -> list[dict]:
    languages = {
        "fineweb2-hq": ["deu_Latn", "fra_Latn"],
        "starcoder": ["python", "rust"],
        "wikipedia": ["en", "it"],
        "parallel": ["en-de", "en-fr"],
    }.get(source.id, [None, None])
    rows = []
    for number, tokens in enumerate((kept // 2, kept - kept // 2)):
        url = f"https://www.example-{source.id}-{number}.org/page" if source.fields.url else None
        rows.append(
            {
                "id": f"{source.id}-{number}",
                "text": f"document {number} of {source.id}",
                "url": url,
                "date": "2024-06-1{}T00:00:00Z".format(number) if source.fields.date else None,
                "language": languages[number],
                "source": source.id,
                "tokens": tokens,
                "sample_key": number,
                "pii_email": 0,
                "pii_ip": 0,
                "pii_iban": 0,
            }
        )
    return rows


@pytest.fixture(scope="session")
def apertus_dir(tmp_path_factory) -> Path:
    """A run directory shaped like an Apertus Stage-5 rebuild: the phase-5 recipe's sources with the
    Table-6 token counts kept, tiny shards that verify against the lock, opt-outs as of 2025-01-31."""
    loaded = load_recipe(bundled_recipe("apertus-phase5"))
    recipe = loaded.recipe
    run_dir = tmp_path_factory.mktemp("eu-apertus") / "run"
    outputs, removed, sources = [], [], {}
    for source in recipe.sources:
        kept = TABLE_6[source.id] * 10**9
        assert kept == source.target_tokens
        path = f"mixture/{source.id}/00000.parquet"
        outputs.append({"path": path} | _write(run_dir / path, _apertus_rows(source, kept), MIXTURE_SCHEMA))
        removed_docs, removed_tokens = {}, {}
        for reason, (documents, tokens) in APERTUS_REMOVED.get(source.id, {}).items():
            rows = [
                {
                    "id": f"{source.id}-{reason}-{n}",
                    "text": "reserved page",
                    "url": "https://reserved.example/",
                    "date": None,
                    "language": None,
                    "source": source.id,
                    "tokens": tokens // documents,
                    "reason": reason,
                    "detail": "{}",
                }
                for n in range(documents)
            ]
            rel = f"removed/{reason}/{source.id}/00000.parquet"
            removed.append({"path": rel, "reason": reason} | _write(run_dir / rel, rows, REMOVED_SCHEMA))
            removed_docs[reason], removed_tokens[reason] = documents, tokens
        sources[source.id] = {
            "location": source.location,
            "content_type": source.content_type,
            "dataset": source.dataset or source.hub["repo"],
            "revision": source.hub["revision"],
            "homepage": source.homepage,
            "license": source.license,
            "crawled_by_provider": source.crawled_by_provider,
            "format": source.format,
            "steps": {
                "optout": source.optout,
                "pii": source.pii,
                "public_ip_only": source.public_ip_only,
                "filters": [extra.id for extra in source.filters],
            },
            "tasks": 1,
            "inputs": [],
            "documents": {"read": 2 + sum(removed_docs.values()), "kept": 2, "removed": removed_docs},
            "tokens": {"target": source.target_tokens, "kept": kept, "removed": removed_tokens},
            "budget": {"binding": False, "candidate_tokens": kept, "candidates": 2},
        }
    lock = {
        "format": LOCK_FORMAT,
        "format_version": LOCK_FORMAT_VERSION,
        "recipe": {"name": recipe.name, "path": str(loaded.path), "sha256": loaded.sha256, "seed": recipe.seed},
        "tokenizer": {"name": recipe.tokenizer, "kind": "hub"},
        "optout": {
            "snapshot_id": "a" * 64,
            "as_of": "2025-01-31",
            "agent_list": "apertus-2025-01",
            "granularity": "url",
            "strict": False,
        },
        "deletion_list": None,
        "executor": {"name": "local", "workers": 2},
        "versions": {},
        "sources": sources,
        "outputs": outputs,
        "removed": removed,
    }
    (run_dir / LOCK_NAME).write_text(json.dumps(lock, indent=2, sort_keys=True))
    return run_dir


# --------------------------------------------------------------------------------------------
# the sample run


def test_markdown_has_every_template_heading_in_order(sample_summary):
    markdown = to_markdown(sample_summary)
    headings = [line for line in markdown.splitlines() if line.startswith("#")]
    found = [heading for heading in headings if heading in HEADINGS]
    assert found == HEADINGS
    assert "☒ Yes ☐ No" in markdown and "☐ Yes ☒ No" in markdown


def test_json_validates_against_the_schema(sample_summary):
    text = to_json(sample_summary)
    schema = summary_json_schema()
    assert schema["additionalProperties"] is False
    try:
        import jsonschema
    except ImportError:
        jsonschema = None
    if jsonschema is not None:
        jsonschema.validate(json.loads(text), schema)
    assert PublicSummary.model_validate_json(text) == sample_summary
    with pytest.raises(ValueError):  # unknown fields and empty answers are refused
        PublicSummary.model_validate(json.loads(text) | {"extra": 1})
    broken = json.loads(text)
    broken["data_sources"]["crawled_data"]["crawlers"] = " "
    with pytest.raises(ValueError):
        PublicSummary.model_validate(broken)


def test_figures_equal_the_lock(sample_dir, sample_summary):
    lock = Run.open(sample_dir).lock
    size = sample_summary.general_information.modalities_and_size
    assert size.total_tokens == sum(entry["tokens"]["kept"] for entry in lock["sources"].values())
    text = next(item for item in size.training_data_size if item.modality == "text")
    assert text.amount == size.total_tokens and text.band == TEXT_BANDS[0]
    assert f"{size.total_tokens:,}" in text.approximate_size
    datasets = {item.source_id: item for item in sample_summary.data_sources.public_datasets.datasets}
    assert set(datasets) == set(lock["sources"])
    for source_id, entry in lock["sources"].items():
        assert datasets[source_id].tokens_kept == entry["tokens"]["kept"]
        assert datasets[source_id].documents_kept == entry["documents"]["kept"]
        assert datasets[source_id].licence == entry["license"]
    assert sum(item.tokens for item in size.types_of_content) == size.total_tokens

    tdm = sample_summary.data_processing.tdm_reservations
    expected = {
        (source_id, reason): (entry["documents"]["removed"][reason], entry["tokens"]["removed"][reason])
        for source_id, entry in lock["sources"].items()
        for reason in entry["documents"]["removed"]
        if reason in SIGNALS
    }
    assert {(row.source_id, row.reason): (row.documents, row.tokens) for row in tdm.removals} == expected
    for protocol in tdm.protocols:
        assert protocol.documents_removed == sum(
            docs for (_, reason), (docs, _) in expected.items() if reason == protocol.signal
        )
        assert protocol.tokens_removed == sum(
            tokens for (_, reason), (_, tokens) in expected.items() if reason == protocol.signal
        )
    assert tdm.total_documents_removed == sum(docs for docs, _ in expected.values())
    assert tdm.total_tokens_removed == sum(tokens for _, tokens in expected.values())
    # the budget and invalid removals are not opt-outs, and the recipe filter is in 3.2
    assert not {row.reason for row in tdm.removals} & {"budget", "invalid", "too-short"}
    filters = sample_summary.data_processing.illegal_content.filter_removals
    assert [(row.source_id, row.reason, row.documents, row.tokens) for row in filters] == [
        (
            "dclm-edu",
            "too-short",
            lock["sources"]["dclm-edu"]["documents"]["removed"]["too-short"],
            lock["sources"]["dclm-edu"]["tokens"]["removed"]["too-short"],
        )
    ]


def test_sample_answers(sample_summary):
    general = sample_summary.general_information
    assert general.provider_identification.provider_name == "Example Research Lab (sample)"
    assert general.model_identification.models[0].name == "example-sample-model"
    assert general.modalities_and_size.modalities.model_dump() == {
        "text": "Yes",
        "image": "No",
        "audio": "No",
        "video": "No",
        "other": "No",
    }
    assert general.modalities_and_size.latest_acquisition == "08/2024"
    assert "starcoder" in general.modalities_and_size.latest_acquisition_note  # a source without dates
    sources = sample_summary.data_sources
    assert sources.public_datasets.used == "Yes"
    assert sources.private_datasets.commercially_licensed.used == "No"
    assert sources.private_datasets.other_third_parties.used == "No"
    crawled = sources.crawled_data
    assert crawled.used == "No" and crawled.crawlers.startswith("Not applicable: the provider did not crawl")
    assert crawled.top_domains == []
    assert (sources.user_data.from_model_interactions, sources.user_data.from_other_services) == ("No", "No")
    assert sources.synthetic_data.used == "No" and sources.other_sources.used == "No"
    illegal = sample_summary.data_processing.illegal_content
    assert "<email-pii>" in illegal.pii_masking and "<iban-pii>" in illegal.pii_masking
    assert {row.source_id for row in illegal.pii if row.masked} == {"fineweb2-hq", "dclm-edu", "wikipedia", "parallel"}
    assert sum(row.emails for row in illegal.pii) > 0
    other = sample_summary.data_processing.other_information
    assert other.runs[0].recipe_sha256 in other.verification and other.runs[0].snapshot_id in other.verification


def test_tdm_section_lists_robots_txt_with_the_agents_and_the_as_of_date(sample_summary):
    tdm = sample_summary.data_processing.tdm_reservations
    assert tdm.code_of_practice_signatory == "Yes"
    signals = {protocol.signal: protocol for protocol in tdm.protocols}
    assert signals["robots"].name == "robots.txt (RFC 9309)"
    assert {"aipref", "content-signal", "tdmrep", "noai", "rightsholder"} <= set(signals)
    assert "robots-unavailable" not in signals  # the sample is not strict
    (optout,) = tdm.optout_runs
    assert optout.as_of == "2025-01-31" and optout.granularity == "url"
    assert set(optout.agent_tokens) == set(load_agent_list("apertus-2025-01").tokens)
    assert {"gptbot", "ccbot", "*"} <= set(optout.agent_tokens)
    assert optout.sources_not_filtered == ["starcoder"]
    assert "2025-01-31" in tdm.retroactive and "Retroactive" in tdm.retroactive
    markdown = to_markdown(sample_summary)
    section = markdown.split("### 3.1 ")[1].split("### 3.2 ")[0]
    assert "robots.txt (RFC 9309)" in section and "`gptbot`" in section and "2025-01-31" in section


def test_languages_are_named_with_shares(sample_dir, sample_summary):
    lang = sample_summary.general_information.modalities_and_size.linguistic_characteristics
    names = [item.language for item in lang.natural_languages]
    assert {"German", "French", "Italian", "English", "Romansh"} <= set(names)
    assert lang.natural_language_count == len(names)
    assert lang.largest[0].share_percent == max(item.share_percent for item in lang.natural_languages)
    assert lang.largest[0].language == "English"
    assert math.isclose(sum(item.share_percent for item in lang.natural_languages), 100, abs_tol=0.1)
    assert [item.language for item in lang.programming_languages][:2] == ["Python", "JavaScript"]
    labels = Run.open(sample_dir).tokens_by_language()  # de + deu_Latn + half of en-de
    german = next(item for item in lang.natural_languages if item.language == "German")
    assert german.code == "deu" and german.tokens == labels["de"] + labels["deu_Latn"] + labels["en-de"] // 2
    natural = sum(item.tokens for item in lang.natural_languages)
    assert natural + sum(item.tokens for item in lang.programming_languages) == sum(labels.values())
    for name in ("German", "French", "Italian", "English"):
        assert name in lang.description
    assert f"English {lang.largest[0].share_percent}%" in lang.description


def test_html_is_strict_html5_with_sections_and_check_boxes(sample_summary):
    import html5lib

    html = to_html(sample_summary)
    parser = html5lib.HTMLParser(strict=True, tree=html5lib.getTreeBuilder("etree"), namespaceHTMLElements=False)
    root = parser.parse(html)
    headings = ["".join(element.itertext()).strip() for element in root.iter() if element.tag in ("h2", "h3", "h4")]
    assert [heading for heading in headings if heading in [h.lstrip("# ") for h in HEADINGS]] == [
        h.lstrip("# ") for h in HEADINGS
    ]
    boxes = [element for element in root.iter("input") if element.get("type") == "checkbox"]
    assert len(boxes) > 20
    crawl = next(element for element in root.iter("section") if element.get("id") == "section-2-3")
    answers = {
        "".join(label.itertext()).strip(): label.find("input").get("checked") is not None
        for label in crawl.iter("label")
    }
    assert answers == {"Yes": False, "No": True}
    assert "@page" in html and "A4" in html
    assert "&lt;email-pii&gt;" in html  # autoescaped


def test_provider_text_is_escaped_in_html(sample_dir, sample_provider):
    provider = sample_provider.model_copy(update={"provider": "<script>alert(1)</script> Lab"})
    html = to_html(build_summary([Run.open(sample_dir)], provider))
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_a_tampered_run_is_refused(sample_dir, tmp_path):
    copy = _copy_run(sample_dir, tmp_path / "run")
    shard = sorted((copy / "mixture" / "dclm-edu").glob("*.parquet"))[0]
    shard.write_bytes(shard.read_bytes() + b"\0")
    with pytest.raises(RunError, match="sha256 differs"):
        Run.open(copy)


# --------------------------------------------------------------------------------------------
# inputs that must not be guessed


def test_missing_or_contradictory_inputs_are_refused(sample_dir, sample_provider, tmp_path):
    run = Run.open(sample_dir)
    with pytest.raises(ValueError, match="no runs"):
        build_summary([], sample_provider)
    with pytest.raises(ValueError, match="twice"):
        build_summary([run, run], sample_provider)
    with pytest.raises(ValueError, match="user data"):
        build_summary([run], sample_provider.model_copy(update={"user_data": True}))
    crawling = {
        "crawlers": ["ExampleBot/1.0"],
        "purposes": "training data",
        "behaviour": "RFC 9309",
        "period_start": "01/2024",
        "period_end": "12/2024",
    }
    crawler_provider = Provider.model_validate(sample_provider.model_dump() | {"crawling": crawling})
    with pytest.raises(ValueError, match="crawled_by_provider"):
        build_summary([run], crawler_provider)

    def anonymous(lock):
        lock["sources"]["wikipedia"]["dataset"] = None

    with pytest.raises(ValueError, match="no dataset name"):
        build_summary([Run.open(_copy_run(sample_dir, tmp_path / "a", anonymous))], sample_provider)

    def synthetic(lock):
        lock["sources"]["parallel"]["content_type"] = "synthetic"

    synthetic_run = Run.open(_copy_run(sample_dir, tmp_path / "s", synthetic))
    with pytest.raises(ValueError, match="synthetic_data"):
        build_summary([synthetic_run], sample_provider)
    described = sample_provider.model_copy(update={"synthetic_data": "Translations generated with model X."})
    summary = build_summary([synthetic_run], described).data_sources.synthetic_data
    assert summary.used == "Yes" and summary.sources == ["apertus-sample/parallel"]

    def unknown_reason(lock):
        removed = lock["sources"]["finemath"]
        removed["documents"]["removed"]["mystery"] = removed["documents"]["removed"].pop("robots")
        removed["tokens"]["removed"]["mystery"] = removed["tokens"]["removed"].pop("robots")

    with pytest.raises(ValueError, match="unknown removal reason 'mystery'"):
        build_summary([Run.open(_copy_run(sample_dir, tmp_path / "u", unknown_reason))], sample_provider)


@pytest.mark.parametrize("sme, share", [(False, 0.10), (True, 0.05)])
def test_crawled_sources_list_the_top_domains(sample_dir, sample_provider, tmp_path, sme, share):
    def crawled(lock):
        lock["sources"]["fineweb2-hq"]["crawled_by_provider"] = True

    run = Run.open(_copy_run(sample_dir, tmp_path / "run", crawled))
    crawling = {
        "crawlers": ["ExampleBot/1.0"],
        "purposes": "collect training text",
        "behaviour": "reads robots.txt per RFC 9309",
        "period_start": "01/2024",
        "period_end": "12/2024",
    }
    provider = Provider.model_validate(sample_provider.model_dump() | {"crawling": crawling, "sme": sme})
    summary = build_summary([run], provider)
    section = summary.data_sources.crawled_data
    domains = run.bytes_by_domain(["fineweb2-hq"])
    assert section.used == "Yes" and section.crawlers == "ExampleBot/1.0"
    assert section.sources == ["apertus-sample/fineweb2-hq"] and "01/2024 to 12/2024" in section.collection_period
    assert section.domains_total == len(domains)
    assert [(d.domain, d.bytes, d.documents) for d in section.top_domains] == domains[: math.ceil(share * len(domains))]
    assert "fineweb2-hq" not in {item.source_id for item in summary.data_sources.public_datasets.datasets}
    assert "☒ Yes ☐ No" in to_markdown(summary).split("### 2.3 ")[1].split("### 2.4 ")[0]
    with pytest.raises(ValueError, match="no crawling section"):
        build_summary([run], sample_provider)


def test_several_runs_add_up(sample_dir, no_optout_dir, sample_provider):
    runs = [Run.open(sample_dir), Run.open(no_optout_dir)]
    summary = build_summary(runs, sample_provider)
    size = summary.general_information.modalities_and_size
    assert size.total_tokens == sum(entry["tokens"]["kept"] for run in runs for entry in run.sources.values())
    assert len(summary.data_sources.public_datasets.datasets) == 12
    assert len(summary.data_processing.other_information.runs) == 2


# --------------------------------------------------------------------------------------------
# Apertus


def test_apertus_summary_answers_as_published(apertus_dir):
    run = Run.open(apertus_dir)
    summary = build_summary([run], load_provider(PROVIDERS / "apertus.yaml"))
    general = summary.general_information
    assert general.provider_identification.provider_name.startswith("Swiss AI Initiative")
    assert [model.name for model in general.model_identification.models] == [
        "swiss-ai/Apertus-8B-2509",
        "swiss-ai/Apertus-70B-2509",
    ]
    size = general.modalities_and_size
    assert size.modalities.text == "Yes"
    assert [size.modalities.image, size.modalities.audio, size.modalities.video, size.modalities.other] == ["No"] * 4
    text = next(item for item in size.training_data_size if item.modality == "text")
    assert text.band == "1 billion to 10 trillion tokens" and text.amount == 2_978 * 10**9
    assert "2,978,000,000,000" in text.approximate_size and "swiss-ai/Apertus-8B-2509" in size.tokenizer

    datasets = {item.name: item for item in summary.data_sources.public_datasets.datasets}
    for hub_id in (
        "HuggingFaceTB/dclm-edu",
        "epfml/FineWeb2-HQ",
        "bigcode/the-stack-dedup",
        "common-pile/stackv2_edu_filtered",
        "HuggingFaceTB/finemath",
        "LLM360/MegaMath",
    ):
        assert hub_id in datasets
        assert datasets[hub_id].link == f"https://huggingface.co/datasets/{hub_id}"
    assert datasets["bigcode/the-stack-dedup"].version == "v1.2"
    assert datasets["bigcode/the-stack-dedup"].tokens_kept == 182 * 10**9
    assert (
        datasets["HuggingFaceTB/dclm-edu"].large
        and not datasets["DataProvenanceInitiative/Commercial-Flan-Collection-Chain-Of-Thought"].large
    )
    assert summary.data_sources.public_datasets.used == "Yes"
    assert summary.data_sources.crawled_data.used == "No"
    assert summary.data_sources.crawled_data.crawlers.startswith("Not applicable: the provider did not crawl")

    tdm = summary.data_processing.tdm_reservations
    assert tdm.code_of_practice_signatory == "Yes"
    (optout,) = tdm.optout_runs
    assert optout.as_of == "2025-01-31" and {"gptbot", "google-extended", "*"} <= set(optout.agent_tokens)
    assert "Retroactive" in tdm.retroactive and "2025-01-31" in tdm.retroactive
    assert (tdm.total_documents_removed, tdm.total_tokens_removed) == (4, 6_200_000)
    assert set(optout.sources_not_filtered) == {"starcoder", "stackv2-edu", "parallel", "task-data"}

    lang = size.linguistic_characteristics
    assert {"German", "French", "English", "Italian"} <= {item.language for item in lang.natural_languages}
    assert lang.unlabelled_tokens > 0 and "dclm-edu" in " ".join(lang.unlabelled_sources)
    assert size.latest_acquisition == "06/2024"
    markdown = to_markdown(summary)
    assert "☐ Less than 1 billion tokens ☒ 1 billion to 10 trillion tokens ☐ More than 10 trillion tokens" in markdown
    import html5lib

    html5lib.HTMLParser(strict=True).parse(to_html(summary))


# --------------------------------------------------------------------------------------------
# diff


def test_diff_explains_what_new_opt_outs_changed(sample_dir, no_optout_dir):
    before, after = Run.open(no_optout_dir), Run.open(sample_dir)  # opt-outs turned on for dclm-edu
    diff = diff_summaries([before], [after])
    dclm_before = before.sources["dclm-edu"]
    dclm_after = after.sources["dclm-edu"]
    robots = diff["sources"]["dclm-edu"]["removed"]["robots"]
    assert robots["documents"] == {
        "old": 0,
        "new": dclm_after["documents"]["removed"]["robots"],
        "change": dclm_after["documents"]["removed"]["robots"],
    }
    assert "robots" not in dclm_before["documents"]["removed"]
    assert diff["sources"]["dclm-edu"]["tokens_kept"] == {
        "old": dclm_before["tokens"]["kept"],
        "new": dclm_after["tokens"]["kept"],
        "change": dclm_after["tokens"]["kept"] - dclm_before["tokens"]["kept"],
    }
    assert diff["sources"]["fineweb2-hq"]["tokens_kept"]["change"] == 0
    total_robots = sum(run.sources[s]["documents"]["removed"].get("robots", 0) for run in [after] for s in run.sources)
    assert diff["removed_by_signal"]["robots"]["documents"]["new"] == total_robots
    assert diff["removed_by_signal"]["robots"]["documents"]["change"] == dclm_after["documents"]["removed"]["robots"]
    assert "budget" not in diff["removed_by_signal"] and "too-short" in diff["removed_by_reason"]

    disappeared = {item["domain"] for item in diff["domains"]["disappeared"]}
    assert disappeared and not diff["domains"]["appeared"]
    assert disappeared <= {host for host, _, _ in before.bytes_by_domain(["dclm-edu"])}
    assert not disappeared & {host for host, _, _ in after.bytes_by_domain()}
    assert diff["datasets"] == {"added": [], "removed": [], "revision_changed": []}

    reverse = diff_summaries([after], [before])
    assert {item["domain"] for item in reverse["domains"]["appeared"]} == disappeared
    assert reverse["sources"]["dclm-edu"]["removed"]["robots"]["documents"]["change"] < 0

    markdown = diff_markdown([before], [after])
    assert "## Removed per reason" in markdown and "## Domains" in markdown
    first = diff["domains"]["disappeared"][0]["domain"]
    assert re.search(rf"\*\*Disappeared[^\n]*{re.escape(first)}", markdown)
    assert "| dclm-edu | robots | 0 |" in markdown


def test_diff_reports_datasets_added_and_removed(sample_dir, apertus_dir):
    diff = diff_summaries([Run.open(sample_dir)], [Run.open(apertus_dir)])
    assert "bigcode/the-stack-dedup" in diff["datasets"]["added"]
    assert "sample of Wikipedia (synthetic, bundled)" in diff["datasets"]["removed"]
    assert diff["sources"]["task-data"]["status"] == "added"
    assert "Romansh" in diff["languages"]["removed"]


def test_a_source_that_kept_nothing_is_listed_with_zero(sample_dir, sample_provider, tmp_path):
    copy = _copy_run(sample_dir, tmp_path / "run")
    lock = json.loads((copy / LOCK_NAME).read_text())
    for shard in (copy / "mixture" / "parallel").glob("*.parquet"):
        shard.unlink()
    lock["outputs"] = [shard for shard in lock["outputs"] if not shard["path"].startswith("mixture/parallel/")]
    entry = lock["sources"]["parallel"]
    entry["documents"] |= {"kept": 0, "removed": {"invalid": entry["documents"]["read"]}}
    entry["tokens"] |= {"kept": 0, "removed": {"invalid": entry["tokens"]["kept"]}}
    (copy / LOCK_NAME).write_text(json.dumps(lock))
    summary = build_summary([Run.open(copy)], sample_provider)
    parallel = next(item for item in summary.data_sources.public_datasets.datasets if item.source_id == "parallel")
    assert (parallel.tokens_kept, parallel.documents_kept) == (0, 0)
    parallel_type = next(
        item
        for item in summary.general_information.modalities_and_size.types_of_content
        if item.content_type == "parallel"
    )
    assert (parallel_type.tokens, parallel_type.share_percent) == (0, 0.0)
