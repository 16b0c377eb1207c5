"""Dataset card, Model Documentation Form data section and copyright policy of the bundled sample
run: the front matter parses, every figure equals the lock's, the policy names the agent tokens
of the snapshot and the complaint contact."""

import json
import re

import pytest
import yaml

from apertus_compliance.manifests.card import dataset_card, hub_licences, size_category, write_card
from apertus_compliance.manifests.model_doc import (
    CopyrightPolicy,
    ModelDocumentationData,
    copyright_policy,
    language_code,
    model_documentation,
    to_markdown,
)
from apertus_compliance.manifests.provider import Crawling
from apertus_compliance.manifests.run import Run


@pytest.fixture(scope="session")
def card(sample_run, provider) -> str:
    return dataset_card(sample_run, provider)


def front_matter(card: str) -> dict:
    match = re.match(r"---\n(.*?)\n---\n", card, re.S)
    assert match, "no front matter"
    return yaml.safe_load(match.group(1))


def table_after(text: str, heading: str) -> list[list[str]]:
    """Rows (cells stripped, header and rule dropped) of the first table after ``heading``."""
    lines = text[text.index(heading) :].splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def number(cell: str) -> int:
    return int(cell.replace(",", ""))


def removed_cell(cell: str) -> dict[str, int]:
    return (
        {}
        if cell == "none"
        else {reason: number(count) for reason, count in (part.rsplit(" ", 1) for part in cell.split(", "))}
    )


def test_front_matter_parses_with_hub_fields(card, sample_run):
    meta = front_matter(card)
    assert meta["license"] == hub_licences(sample_run) == ["cc-by-4.0", "odc-by", "other", "cc-by-sa-4.0"]
    assert {"en", "de", "fr", "it", "es", "pt", "nl", "pl", "ru", "rm", "code"} == set(meta["language"])
    assert meta["task_categories"] == ["text-generation"]
    documents = sum(entry["documents"]["kept"] for entry in sample_run.sources.values())
    assert meta["size_categories"] == [size_category(documents)] == ["1K<n<10K"]
    assert meta["pretty_name"]
    configs = {config["config_name"]: config for config in meta["configs"]}
    assert set(configs) == {"default", *sample_run.sources}
    for source_id in sample_run.sources:
        (files,) = configs[source_id]["data_files"]
        shards = {path.relative_to(sample_run.dir).as_posix() for path in sample_run.dir.glob(files["path"])}
        assert shards == {
            shard["path"] for shard in sample_run.lock["outputs"] if shard["path"].startswith(f"mixture/{source_id}/")
        }


@pytest.mark.parametrize(
    ("documents", "band"),
    [
        (0, "n<1K"),
        (999, "n<1K"),
        (1_000, "1K<n<10K"),
        (9_999, "1K<n<10K"),
        (10_000, "10K<n<100K"),
        (2_500_000, "1M<n<10M"),
        (999_999_999_999, "100B<n<1T"),
        (10**12, "n>1T"),
    ],
)
def test_size_category(documents, band):
    assert size_category(documents) == band


@pytest.mark.parametrize(
    ("label", "code"),
    [
        ("deu_Latn", "de"),
        ("rus_Cyrl", "ru"),
        ("en", "en"),
        ("EN", "en"),
        ("gsw_Latn", "gsw"),
        ("cmn_Hani", "zh"),
    ],
)
def test_language_code(label, code):
    assert language_code(label) == code


def test_card_tables_equal_the_lock(card, sample_run):
    rows = {row[0]: row for row in table_after(card, "## Sources")}
    assert set(rows) == set(sample_run.sources)
    for source_id, entry in sample_run.sources.items():
        _, dataset, content_type, licence, read, kept, removed, tokens_kept, target = rows[source_id]
        assert (dataset, content_type, licence) == (entry["dataset"], entry["content_type"], entry["license"])
        assert (number(read), number(kept)) == (entry["documents"]["read"], entry["documents"]["kept"])
        assert removed_cell(removed) == entry["documents"]["removed"]
        assert (number(tokens_kept), number(target)) == (entry["tokens"]["kept"], entry["tokens"]["target"])
    shards = {row[0].strip("`"): row for row in table_after(card, "Mixture shards:")}
    assert {path: row[3].strip("`") for path, row in shards.items()} == {
        shard["path"]: shard["sha256"] for shard in sample_run.lock["outputs"]
    }
    assert all(number(shards[shard["path"]][1]) == shard["documents"] for shard in sample_run.lock["outputs"])
    lock_rows = {row[0]: row for row in table_after(card, "## Lock")}
    assert lock_rows["recipe"][2].strip("`") == sample_run.lock["recipe"]["sha256"]
    assert lock_rows["opt-out snapshot"][2].strip("`") == sample_run.lock["optout"]["snapshot_id"]


def test_card_opt_out_and_pii_sections(card, sample_run, provider):
    optout = {row[0]: row for row in table_after(card, "## Opt-outs honoured")}
    for signal, row in optout.items():
        removed = sum(entry["documents"]["removed"].get(signal, 0) for entry in sample_run.sources.values())
        assert number(row[3]) == removed, signal
    assert number(optout["robots"][3]) > 0 and "RFC 9309" in optout["robots"][1]
    assert "2025-01-31" in card and "retroactively" in card
    manifest = json.loads((sample_run.dir / "optout" / "snapshot" / "manifest.json").read_text())
    assert all(f"`{token}`" in card for token in manifest["agent_list"]["tokens"])
    pii = {row[0]: row for row in table_after(card, "## PII masking")}
    counts = {
        source: (email, ip, iban)
        for source, email, ip, iban in sample_run.query(
            "SELECT source, sum(pii_email), sum(pii_ip), sum(pii_iban) FROM mixture GROUP BY 1"
        )
    }
    for source_id, entry in sample_run.sources.items():
        assert pii[source_id][1] == ("yes" if entry["steps"]["pii"] else "no")
        assert tuple(number(cell) for cell in pii[source_id][2:]) == counts[source_id]
    assert "apertus-compliance rebuild --recipe sample --out run" in card
    assert "apertus-compliance verify" in card and provider.complaint_contact in card


def test_write_card_puts_readme_in_the_run(sample_run, provider, tmp_path):
    path = write_card(sample_run, provider, tmp_path / "README.md")
    assert path.read_text().startswith("---\n")


def test_model_documentation_numbers_equal_the_lock(sample_run, provider):
    doc = model_documentation([sample_run], provider)
    assert isinstance(doc, ModelDocumentationData)
    sources = sample_run.sources
    assert doc.documents == sum(entry["documents"]["kept"] for entry in sources.values())
    assert doc.tokens == sum(entry["tokens"]["kept"] for entry in sources.values())
    assert sum(doc.languages.values()) + sum(doc.programming_languages.values()) == doc.tokens
    assert sum(doc.content_types.values()) == doc.tokens
    assert set(doc.programming_languages) == {"python", "javascript", "c", "rust", "go"}
    for figures in doc.sources:
        entry = sources[figures.id]
        assert (figures.documents_read, figures.documents_kept, figures.tokens_kept, figures.tokens_target) == (
            entry["documents"]["read"],
            entry["documents"]["kept"],
            entry["tokens"]["kept"],
            entry["tokens"]["target"],
        )
        assert figures.documents_removed == entry["documents"]["removed"]
    provenance = {item.category: item.used for item in doc.provenance}
    assert provenance == {
        "web crawl by the provider": False,
        "private datasets from third parties": False,
        "user data": False,
        "publicly available datasets": True,
        "synthetic data": False,
        "other": False,
    }
    assert doc.data_type == ["text"] and doc.latest_document_date == sample_run.latest_date()
    curation = " ".join(doc.curation_methods)
    assert "2025-01-31" in curation and "<email-pii>" in curation and "too-short" in curation
    assert any("No bias or toxicity classifier" in item for item in doc.bias_detection)
    markdown = to_markdown(doc)
    assert f"{doc.documents:,} documents, {doc.tokens:,} tokens" in markdown
    assert json.loads(doc.model_dump_json())["tokens"] == doc.tokens


def test_two_runs_add_up(sample_run, provider):
    doc = model_documentation([sample_run, sample_run], provider)
    single = model_documentation([sample_run], provider)
    assert (doc.documents, doc.tokens) == (2 * single.documents, 2 * single.tokens)
    assert len(doc.runs) == 2 and len(doc.sources) == 2 * len(single.sources)


def test_copyright_policy_lists_agent_tokens_and_contact(sample_run, provider):
    policy = copyright_policy([sample_run], provider)
    assert isinstance(policy, CopyrightPolicy)
    manifest = json.loads((sample_run.dir / "optout" / "snapshot" / "manifest.json").read_text())
    assert policy.agent_tokens == sorted(manifest["agent_list"]["tokens"])
    assert {"gptbot", "ccbot", "google-extended", "*"} <= set(policy.agent_tokens)
    assert policy.complaint_contact == provider.complaint_contact == "copyright@example.org"
    assert policy.as_of == ["2025-01-31"] and "Retroactive" in policy.retroactive
    assert policy.crawlers == [] and "no crawler of its own" in policy.crawler_behaviour
    by_signal = {item.signal: item for item in policy.protocols}
    assert {"robots", "tdmrep", "aipref", "content-signal", "noai", "rightsholder"} <= set(by_signal)
    assert "robots-unavailable" not in by_signal  # not strict
    reserving = manifest["counts"]["reserving_hosts_by_signal"]
    for signal, item in by_signal.items():
        assert item.documents_removed == sum(
            entry["documents"]["removed"].get(signal, 0) for entry in sample_run.sources.values()
        )
        assert item.reserving_hosts == reserving.get(signal, 0)
    (snapshot,) = policy.snapshots
    assert snapshot.sources_not_filtered == ["starcoder"] and snapshot.agent_list_version == "2025-01"
    markdown = policy.to_markdown()
    assert "copyright@example.org" in markdown and "`gptbot`" in markdown and "RFC 9309" in markdown


def test_copyright_policy_of_a_crawling_provider(sample_run, provider):
    crawling = Crawling(
        crawlers=["ExampleBot/1.0"],
        purposes="training data",
        behaviour="robots.txt per RFC 9309",
        period_start="01/2025",
        period_end="03/2025",
    )
    crawler = provider.model_copy(update={"crawling": crawling})
    policy = copyright_policy([sample_run], crawler)
    assert policy.crawlers == ["ExampleBot/1.0"] and policy.crawler_behaviour == "robots.txt per RFC 9309"
    doc = model_documentation([sample_run], crawler)
    (web,) = [item for item in doc.provenance if item.category == "web crawl by the provider"]
    assert web.used and "ExampleBot/1.0" in web.details


def test_without_the_snapshot_manifest_counts_are_unknown_not_zero(sample_run, provider, tmp_path):
    elsewhere = Run(tmp_path, sample_run.lock)  # the lock without its run folder: no optout/snapshot here
    policy = copyright_policy([elsewhere], provider)
    assert policy.agent_tokens == [] and all(item.reserving_hosts is None for item in policy.protocols)
    assert "n/a" in policy.to_markdown()


def test_a_run_without_opt_outs_or_masking_says_so(sample_run, provider):
    from apertus_compliance.manifests.croissant import croissant_metadata

    lock = json.loads(json.dumps(sample_run.lock))
    lock["optout"] = None
    for entry in lock["sources"].values():
        entry["steps"]["optout"] = entry["steps"]["pii"] = False
    bare = Run(sample_run.dir, lock)
    card = dataset_card(bare, provider)
    assert "No opt-out filtering" in card and "| no |" in card
    policy = copyright_policy([bare], provider)
    assert policy.protocols == [] and policy.as_of == [] and policy.snapshots == []
    doc = model_documentation([bare], provider)
    assert any("No opt-out filtering" in item for item in doc.curation_methods)
    assert any("No PII masking" in item for item in doc.curation_methods)
    metadata = croissant_metadata(bare, provider)
    assert "No opt-out filtering" in " ".join(metadata["rai:dataPreprocessingProtocol"])
    assert "No opt-out filtering was applied." in metadata["rai:dataLimitations"]
    assert "No PII masking was applied" in " ".join(metadata["rai:personalSensitiveInformation"])
