"""The training inventory: the bundled Apertus file loads, and a wrong field is named by its path
(``apertus.yaml: stages[0].sources[1].version: ...``) with what is wrong."""

import copy
from pathlib import Path

import pytest
import yaml

from apertus_compliance.manifests.inventory import (
    DatasetSource,
    InventoryError,
    RunSource,
    bundled_inventory,
    inventory_from_provider,
    load_inventory,
    validate_inventory,
)
from apertus_compliance.manifests.provider import ProviderError, load_provider
from apertus_compliance.paths import bundled_data

APERTUS = bundled_inventory("apertus")


@pytest.fixture(scope="module")
def apertus_data() -> dict:
    return yaml.safe_load(APERTUS.read_text(encoding="utf-8"))


def _write(tmp_path: Path, data: dict, name: str = "apertus.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_the_bundled_apertus_inventory_loads():
    inventory = load_inventory(APERTUS)
    assert [model.name for model in inventory.models] == [
        "Apertus-8B",
        "Apertus-70B",
        "Apertus-8B-Instruct",
        "Apertus-70B-Instruct",
    ]
    assert inventory.provider.code_of_practice_signatory is False
    assert inventory.provider.complaint_contact == "llm-copyright-requests@swiss-ai.org"
    assert [stage.phase for stage in inventory.stages] == ["pre-training", "post-training"]
    euroblocks = next(
        source
        for stage in inventory.stages
        for source in stage.sources
        if isinstance(source, DatasetSource) and "EuroBlocks" in source.name
    )
    assert euroblocks.kind == "public"  # made by a third party: a public dataset, not provider synthetic data
    assert inventory.run_dirs() == []


def _mutated(data: dict, change) -> dict:
    data = copy.deepcopy(data)
    change(data)
    return data


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda d: d["stages"][0]["sources"][1].update(version="main"),
            r"apertus\.yaml: stages\[0\]\.sources\[1\]\.version: 'main' is a branch, not a pinned version",
        ),
        (
            lambda d: d["stages"][0]["sources"][4].update(kind="scraped"),
            r"stages\[0\]\.sources\[4\]\.kind: Input should be 'public'",
        ),
        (lambda d: d["provider"].pop("complaint_contact"), r"provider\.complaint_contact: Field required"),
        (lambda d: d["provider"].update(fax="0"), r"provider\.fax: Extra inputs are not permitted"),
        (
            lambda d: d["stages"][1]["sources"][0].update(kind="synthetic-by-provider"),
            r"stages\[1\]\.sources\[0\]: generating_models: a synthetic-by-provider dataset names the models",
        ),
        (
            lambda d: d["stages"][1]["sources"][0].update(kind="user-data"),
            r"stages\[1\]\.sources\[0\]: user_data_origin: model-interactions or other-services",
        ),
        (
            lambda d: d["stages"][1]["sources"][0].update(kind="user-data", user_data_origin="other-services"),
            r"services: describe the services or products",
        ),
        (lambda d: d["stages"][1]["sources"][0].update(kind="other"), r"description: a source of kind other"),
        (
            lambda d: d["stages"][1]["sources"][0].update(kind="crawled-by-provider"),
            r"provider\.crawling: a source is crawled-by-provider",
        ),
        (lambda d: d["stages"][1].update(models=["Apertus-9B"]), r"stages\[1\]\.models: Apertus-9B not among"),
        (lambda d: d["stages"][0]["sources"][0].update(collected={"start": "2024-05", "end": "2024-03"}), r"after end"),
        (lambda d: d["stages"][0].update(size={"amount": -1, "unit": "tokens"}), r"stages\[0\]\.size\.amount"),
        (lambda d: d["declarations"]["comments"].update({"9.9": "x"}), r"declarations\.comments\.9\.9"),
        (lambda d: d["declarations"].pop("tdm_measures"), r"declarations\.tdm_measures: Field required"),
    ],
)
def test_a_wrong_field_is_named_with_its_path(apertus_data, tmp_path, change, message):
    with pytest.raises(InventoryError, match=message):
        load_inventory(_write(tmp_path, _mutated(apertus_data, change)))


def test_every_wrong_field_is_named_at_once(apertus_data):
    def two_problems(data):
        data["stages"][0]["sources"][1]["version"] = "master"
        data["provider"].pop("contact")

    with pytest.raises(InventoryError) as raised:
        validate_inventory(_mutated(apertus_data, two_problems), "apertus.yaml")
    assert "stages[0].sources[1].version" in str(raised.value) and "provider.contact" in str(raised.value)


def test_runs_are_found_relative_to_the_file_and_added_by_stage(apertus_data, tmp_path, sample_dir):
    folder = tmp_path / "inventories"
    folder.mkdir()
    relative = Path("..") / "runs" / "phase5"
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "phase5").symlink_to(sample_dir, target_is_directory=True)
    data = _mutated(apertus_data, lambda d: d["stages"][0]["sources"].append({"run": str(relative)}))
    inventory = load_inventory(_write(folder, data))
    assert inventory.run_dirs() == [(folder / relative).resolve()]

    added = load_inventory(APERTUS, runs={"posttraining": sample_dir})
    assert isinstance(added.stages[1].sources[-1], RunSource) and added.run_dirs() == [sample_dir.resolve()]
    with pytest.raises(InventoryError, match=r"--run phase9: no such stage \(stages: pretraining, posttraining\)"):
        load_inventory(APERTUS, runs={"phase9": sample_dir})

    missing = _mutated(apertus_data, lambda d: d["stages"][0]["sources"].append({"run": "nowhere"}))
    with pytest.raises(InventoryError, match="run folder\\(s\\) not found"):
        load_inventory(_write(tmp_path, missing))


def test_a_run_override_for_synthetic_data_names_its_generators(apertus_data, tmp_path, sample_dir):
    def override(data):
        data["stages"][1]["sources"].append(
            {"run": str(sample_dir), "sources": {"parallel": {"kind": "synthetic-by-provider"}}}
        )

    with pytest.raises(InventoryError, match=r"stages\[1\]\.sources\[4\]\.sources\.parallel: generating_models"):
        load_inventory(_write(tmp_path, _mutated(apertus_data, override)))


def test_section_numbers_of_comments_may_be_unquoted(apertus_data, tmp_path):
    path = _write(tmp_path, _mutated(apertus_data, lambda d: d["declarations"].update(comments={})))
    path.write_text(path.read_text().replace("comments: {}", "comments:\n    1.3: A note.\n    2.2.1: Another."))
    assert load_inventory(path).declarations.comments == {"1.3": "A note.", "2.2.1": "Another."}


def test_unreadable_files_are_named(tmp_path):
    with pytest.raises(InventoryError, match="cannot read it"):
        load_inventory(tmp_path / "absent.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(InventoryError, match="list.yaml: expected a mapping"):
        load_inventory(tmp_path / "list.yaml")


def test_a_provider_file_becomes_a_one_stage_inventory(sample_dir):
    provider = load_provider(bundled_data() / "providers" / "sample.yaml")
    inventory = inventory_from_provider(provider, [sample_dir])
    (stage,) = inventory.stages
    assert stage.sources == [RunSource(run=sample_dir.resolve())]
    assert inventory.provider.name == provider.provider and inventory.provider.sme is provider.sme
    assert [measure.targets for measure in stage.measures] == [["illegal-content"]]
    with pytest.raises(ProviderError, match="user_data is true"):
        inventory_from_provider(provider.model_copy(update={"user_data": True}), [sample_dir])
    with pytest.raises(InventoryError, match="no runs given"):
        inventory_from_provider(provider, [])
