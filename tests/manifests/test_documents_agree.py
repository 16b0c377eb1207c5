"""Every document of one run, written as ``manifest all`` writes them, states the same facts:
models, sizes, protocols and their removals, languages, dates."""

import json
import re
import shutil

import pytest
import yaml

from apertus_compliance.manifests.documents import sample_provider, write_documents
from apertus_compliance.manifests.facts import PROTOCOLS


@pytest.fixture(scope="session")
def documents(sample_dir, tmp_path_factory) -> dict:
    """All documents of a copy of the sample run (Croissant and the card are written into the run)."""
    root = tmp_path_factory.mktemp("agree")
    run_dir = shutil.copytree(sample_dir, root / "run")
    written = write_documents([run_dir], sample_provider(), root / "docs")
    files = {path.name: path for path in written}
    card = files["README.md"].read_text()
    return {
        "doc": json.loads(files["model-documentation-data.json"].read_text()),
        "policy": json.loads(files["copyright-policy.json"].read_text()),
        "summary": json.loads(files["eu-public-summary.json"].read_text()),
        "croissant": json.loads(files["croissant.json"].read_text()),
        "card": card,
        "card_meta": yaml.safe_load(card.split("---\n", 2)[1]),
        "markdown": {name: path.read_text() for name, path in files.items() if name.endswith(".md")},
    }


def number(text: str) -> int:
    return int(text.replace(",", ""))


def test_the_models_agree(documents):
    models = [(model["name"], model["version"]) for model in documents["doc"]["models"]]
    assert models == [(model["name"], model["version"]) for model in documents["summary"]["model"]["models"]]
    assert documents["policy"]["models"] == [f"{name} ({version})" for name, version in models]


def test_the_sizes_agree(documents):
    doc, summary, croissant, card = documents["doc"], documents["summary"], documents["croissant"], documents["card"]
    (run,) = summary["runs"]
    assert (doc["documents"], doc["tokens"]) == (run["documents_kept"], run["tokens_kept"])
    (text,) = [row for row in summary["training_data"]["modalities"] if row["used"]]
    assert text["amount"] == doc["tokens"]
    sentence = f"{doc['documents']:,} documents, {doc['tokens']:,} tokens"
    assert sentence in croissant["description"] and sentence in documents["markdown"]["model-documentation-data.md"]
    assert f"{doc['documents']:,} documents and {doc['tokens']:,} tokens" in card
    per_source = {source["id"]: source for source in doc["runs"][0]["sources"]}
    for source_id, source in per_source.items():
        assert f"{source_id}: read {source['documents_read']:,}, kept {source['documents_kept']:,}" in " ".join(
            croissant["rai:dataPreprocessingProtocol"]
        )
        row = re.search(rf"^\| {re.escape(source_id)} \| .*$", card, re.M).group(0).split(" | ")
        assert (number(row[4]), number(row[5]), number(row[7])) == (
            source["documents_read"],
            source["documents_kept"],
            source["tokens_kept"],
        )


def test_the_protocols_and_their_removals_agree(documents):
    policy = {item["signal"]: item["documents_removed"] for item in documents["policy"]["protocols"]}
    (tdm,) = documents["summary"]["tdm_reservations"]["runs"]
    assert {signal: count for signal, count in policy.items() if count} == tdm["removed_by_signal"]
    card_rows = re.findall(r"^\| ([a-z-]+) \| [^|]+ \| [\d,n/a]+ \| ([\d,]+) \|$", documents["card"], re.M)
    assert {signal: number(count) for signal, count in card_rows} == policy
    counts = "; ".join(f"{PROTOCOLS[signal].name}: {count:,}" for signal, count in tdm["removed_by_signal"].items())
    assert "robots.txt (RFC 9309): " in counts and "tdmrep" not in counts  # the reader's names, not the keys
    assert f"Documents removed per protocol: {counts}." in " ".join(
        documents["croissant"]["rai:dataPreprocessingProtocol"]
    )
    assert f"Documents removed per protocol: {counts}." in documents["markdown"]["model-documentation-data.md"]
    assert tdm["as_of"] in documents["policy"]["as_of"] and tdm["agent_tokens"] == documents["policy"]["agent_tokens"]


def test_the_languages_agree(documents):
    doc_languages = [(language["code"], language["tokens"]) for language in documents["doc"]["languages"]]
    summary = documents["summary"]["training_data"]["languages"]
    assert doc_languages == [(language["code"], language["tokens"]) for language in summary]
    assert [language["share_percent"] for language in documents["doc"]["languages"]] == [
        language["share_percent"] for language in summary
    ]
    tags = [language["tag"] for language in documents["doc"]["languages"]]
    assert documents["croissant"]["inLanguage"] == tags
    assert documents["card_meta"]["language"] == [*tags, "code"]
    programming = [(language["name"], language["tokens"]) for language in documents["doc"]["programming_languages"]]
    summary_programming = documents["summary"]["training_data"]["programming_languages"]
    assert programming == [(language["name"], language["tokens"]) for language in summary_programming]


def test_the_dates_agree(documents):
    doc = documents["doc"]
    first, last = doc["first_document_date"], doc["latest_document_date"]
    assert documents["croissant"]["rai:dataCollectionTimeframe"] == [first, last]
    assert f"Document dates: {first} to {last}." in documents["card"]
    assert f"Document dates: {first} to {last}." in documents["markdown"]["model-documentation-data.md"]
    assert documents["summary"]["training_data"]["latest_acquisition"] == f"{last[5:7]}/{last[:4]}"
    (run,) = doc["runs"]
    assert documents["croissant"]["datePublished"] == run["lock_written"]
