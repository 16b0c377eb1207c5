"""Croissant + RAI metadata of the bundled sample run: mlcroissant validates it and reads the
shards offline, every shard is listed with the lock's sha256, the RAI fields say what was done."""

import hashlib
import json
import shutil
import socket
from pathlib import Path

import pytest

from apertus_compliance.manifests.croissant import COLUMNS, croissant_metadata, licence_url, write_croissant
from apertus_compliance.manifests.run import Run
from apertus_compliance.pipeline import RunLock
from apertus_compliance.pipeline.steps import MIXTURE_SCHEMA

RAI_FIELDS = (
    "rai:dataCollection",
    "rai:dataCollectionType",
    "rai:dataCollectionTimeframe",
    "rai:dataCollectionMissingData",
    "rai:dataPreprocessingProtocol",
    "rai:personalSensitiveInformation",
    "rai:dataLimitations",
    "rai:dataBiases",
    "rai:dataSocialImpact",
)
ARROW_TO_CROISSANT = {
    "string": {"sc:Text", "sc:URL"},
    "int64": {"cr:Int64"},
    "uint64": {"cr:UInt64"},
    "int32": {"cr:Int32"},
}


@pytest.fixture(scope="session")
def croissant_file(sample_dir, publisher, tmp_path_factory) -> Path:
    """``croissant.json`` at the root of a copy of the sample run (the shared run stays as the rebuild left it)."""
    run_dir = shutil.copytree(sample_dir, tmp_path_factory.mktemp("croissant") / "run")
    return write_croissant(Run.open(run_dir), publisher)


@pytest.fixture
def offline(monkeypatch):
    """Any attempt to open a connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated", "ignore:The inplace keyword")
def test_mlcroissant_validates_and_reads_the_local_shards_offline(croissant_file, sample_run, offline):
    import mlcroissant as mlc

    dataset = mlc.Dataset(jsonld=str(croissant_file))
    issues = dataset.metadata.ctx.issues
    assert not issues.errors and not issues.warnings, issues.report()
    assert dataset.metadata.ctx.is_v1_1()

    records = list(dataset.records("mixture"))
    documents = sum(entry.documents.kept for entry in sample_run.sources.values())
    assert len(records) == documents
    first = records[0]
    assert set(first) == {f"mixture/{column}" for column in MIXTURE_SCHEMA.names}
    read = {
        (record["mixture/source"].decode(), record["mixture/id"].decode(), int(record["mixture/tokens"]))
        for record in records
    }
    expected = set(sample_run.query("SELECT source, id, tokens FROM mixture"))
    assert read == expected


def test_distribution_lists_every_shard_with_the_locks_sha256(croissant_file, sample_run):
    metadata = json.loads(croissant_file.read_text())
    objects = [item for item in metadata["distribution"] if item["@type"] == "cr:FileObject"]
    assert {item["@id"]: item["sha256"] for item in objects} == {
        shard.path: shard.sha256 for shard in sample_run.lock.outputs
    }
    for item in objects:
        path = croissant_file.parent / item["contentUrl"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == item["sha256"]
        assert item["encodingFormat"] == "application/x-parquet"
    (file_set,) = [item for item in metadata["distribution"] if item["@type"] == "cr:FileSet"]
    matched = {
        path.relative_to(croissant_file.parent).as_posix()
        for pattern in file_set["includes"]
        for path in croissant_file.parent.glob(pattern)
    }
    assert matched == {item["contentUrl"] for item in objects}


def test_one_record_set_with_a_typed_field_per_mixture_column(croissant_file):
    metadata = json.loads(croissant_file.read_text())
    (record_set,) = metadata["recordSet"]
    assert record_set["@id"] == "mixture"
    fields = {field["name"]: field for field in record_set["field"]}
    assert list(fields) == MIXTURE_SCHEMA.names == list(COLUMNS)
    for arrow_field in MIXTURE_SCHEMA:
        field = fields[arrow_field.name]
        assert field["dataType"] in ARROW_TO_CROISSANT[str(arrow_field.type)], arrow_field
        assert field["source"]["extract"] == {"column": arrow_field.name}
        assert field["source"]["fileSet"] == {"@id": "mixture-shards"}


def test_context_conformance_and_dataset_level_fields(croissant_file, sample_run, publisher):
    metadata = json.loads(croissant_file.read_text())
    assert metadata["@context"]["rai"] == "http://mlcommons.org/croissant/RAI/"
    assert metadata["@context"]["cr"] == "http://mlcommons.org/croissant/"
    assert metadata["conformsTo"] == ["http://mlcommons.org/croissant/1.1", "http://mlcommons.org/croissant/RAI/1.0"]
    assert metadata["version"].endswith("+" + sample_run.lock.recipe.sha256[:12])
    assert metadata["creator"]["name"] == publisher.name
    assert metadata["name"] == "apertus-sample"
    assert metadata["url"] == croissant_file.parent.as_uri()  # required by 1.1: the folder until published
    custom = croissant_metadata(sample_run, publisher, name="custom", url="https://huggingface.co/datasets/x/y")
    assert custom["name"] == "custom" and custom["url"] == "https://huggingface.co/datasets/x/y"
    assert {"en", "de", "fr", "it", "rm"} <= set(metadata["inLanguage"])
    assert "python" not in metadata["inLanguage"]  # programming languages are not languages


def test_rai_fields_are_present_and_true_to_the_lock(croissant_file, sample_run):
    metadata = json.loads(croissant_file.read_text())
    for key in RAI_FIELDS:
        assert metadata.get(key), key
    as_of = sample_run.lock.optout.as_of
    assert as_of == "2025-01-31"
    preprocessing = " ".join(metadata["rai:dataPreprocessingProtocol"])
    assert as_of in preprocessing and as_of in " ".join(metadata["rai:dataLimitations"])
    assert "retroactively" in preprocessing and "<email-pii>" in preprocessing
    robots = sum(entry.documents.removed.get("robots", 0) for entry in sample_run.sources.values())
    assert f"robots.txt (RFC 9309): {robots:,}" in preprocessing  # the protocol as a reader knows it
    assert metadata["rai:dataCollectionType"] == ["Secondary Data analysis"]  # no crawling of our own
    personal = " ".join(metadata["rai:personalSensitiveInformation"])
    ((emails, ips, ibans),) = sample_run.query("SELECT sum(pii_email), sum(pii_ip), sum(pii_iban) FROM mixture")
    assert f"email {emails:,}" in personal and f"ip {ips:,}" in personal and f"iban {ibans:,}" in personal
    assert "starcoder" in personal  # says where masking did not run
    assert "No deletion list" in personal


def test_rai_collection_timeframe_missing_data_and_biases_come_from_the_run(croissant_file, sample_run):
    metadata = json.loads(croissant_file.read_text())
    ((first, last),) = sample_run.query("SELECT min(left(date, 10)), max(left(date, 10)) FROM mixture")
    assert metadata["rai:dataCollectionTimeframe"] == [first, last]
    invalid = sum(entry.documents.removed.get("invalid", 0) for entry in sample_run.sources.values())
    read = sum(entry.documents.read for entry in sample_run.sources.values())
    missing = metadata["rai:dataCollectionMissingData"]
    assert invalid > 0 and f"Of {read:,} documents read, {invalid:,} were unusable input" in missing
    biases = metadata["rai:dataBiases"]
    # one statement per step that ran: opt-outs, the recipe's only filter (on dclm-edu), the budget, PII
    assert any(item.startswith("Opt-out filtering ran on ") for item in biases)
    (too_short,) = [item for item in biases if item.startswith("The recipe filter ")]
    assert "too-short ran on dclm-edu and removed 20 " in too_short
    assert any("token budget cut" in item for item in biases)
    assert any(item.startswith("PII masking replaced ") for item in biases)


def test_differing_licences_are_listed_per_source(croissant_file, sample_run):
    metadata = json.loads(croissant_file.read_text())
    works = metadata["license"]
    assert isinstance(works, list) and all(work["@type"] == "sc:CreativeWork" for work in works)
    licences = {entry.license for entry in sample_run.sources.values()}
    assert {work["name"] for work in works} == licences
    for source_id, entry in sample_run.sources.items():
        (work,) = [work for work in works if work["name"] == entry.license]
        assert source_id in work["description"]
        assert source_id in metadata["description"] and entry.license in metadata["description"]
    (cc_by,) = [work for work in works if work["name"] == "CC-BY-4.0"]
    assert cc_by["url"] == "https://spdx.org/licenses/CC-BY-4.0.html"


def test_a_single_licence_is_the_datasets_licence(sample_run, publisher):
    lock = sample_run.lock.to_dict()
    for entry in lock["sources"].values():
        entry["license"] = "ODC-By 1.0"
    metadata = croissant_metadata(Run(sample_run.dir, RunLock.from_dict(lock)), publisher)
    assert metadata["license"] == licence_url("ODC-By 1.0") == "https://spdx.org/licenses/ODC-By-1.0.html"


def test_written_elsewhere_the_paths_stay_relative_to_the_file(sample_run, publisher, tmp_path):
    out = write_croissant(sample_run, publisher, tmp_path / "docs" / "croissant.json")
    metadata = json.loads(out.read_text())
    for item in metadata["distribution"]:
        if item["@type"] == "cr:FileObject":
            assert item["contentUrl"].endswith(item["@id"]) and item["contentUrl"].startswith("../")
            assert (out.parent / item["contentUrl"]).resolve() == (sample_run.dir / item["@id"]).resolve()
