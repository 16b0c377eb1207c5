"""Recipes: the shipped ones validate, and every kind of bad recipe stops before any work."""

from importlib.resources import files
from pathlib import Path

import pytest

from apertus_compliance.pipeline.rebuild import plan_sources
from apertus_compliance.pipeline.recipe import RecipeError, bundled_recipe, load_recipe


def test_shipped_recipes_validate():
    sample = load_recipe(bundled_recipe("sample")).recipe
    assert [source.id for source in sample.sources] == [
        "fineweb2-hq",
        "dclm-edu",
        "starcoder",
        "finemath",
        "wikipedia",
        "parallel",
    ]
    phase5 = load_recipe(bundled_recipe("apertus-phase5")).recipe
    budgets = {source.id: source.target_tokens // 10**9 for source in phase5.sources}
    assert budgets["dclm-edu"] == 1619 and budgets["fineweb2-hq"] == 986 and budgets["starcoder"] == 182
    assert sum(budgets.values()) * 10**9 == phase5.total_tokens
    assert all(source.hub and source.hub["revision"] for source in phase5.sources)
    code = {source.id: source for source in phase5.sources}["starcoder"]
    assert (code.pii, code.optout, code.hub["revision"]) == (False, False, "v1.2")


def _source(**overrides) -> dict:
    return {"id": "web", "location": "sources/*.parquet", "format": "parquet", "target_tokens": 1000} | overrides


@pytest.mark.parametrize(
    ("recipe_top", "source", "message"),
    [
        ({"colour": "blue"}, {}, "colour: Extra inputs are not permitted"),
        ({}, {"weight": 2}, "sources.0.weight: Extra inputs are not permitted"),
        ({}, {"target_tokens": 0}, "a token budget must be positive"),
        ({"total_tokens": 5000}, {}, "add up to 1,000, not total_tokens 5,000"),
        ({}, {"format": "csv"}, "sources.0.format"),
        ({}, {"id": "Web Text"}, "not a lower-case folder name"),
        ({}, {"fields": {"url": None}}, "optout is on but fields.url is null"),
        ({"optout": None}, {}, "no optout section"),
        ({"optout": {"registry": "r.duckdb"}}, {}, "a registry needs as_of"),
        ({"optout": {"snapshot": "s", "registry": "r.duckdb", "as_of": "2025-01-31"}}, {}, "exactly one of"),
        ({"executor": {"workers": 0}}, {}, "workers must be at least 1"),
    ],
)
def test_bad_recipes_name_the_field(kit, recipe_top, source, message):
    path = kit.write_recipe([_source(**source)], **recipe_top)
    with pytest.raises(RecipeError) as raised:
        load_recipe(path)
    assert str(path) in str(raised.value) and message in str(raised.value)


def test_duplicate_source_ids(kit):
    path = kit.write_recipe([_source(), _source()])
    with pytest.raises(RecipeError, match="source ids must be unique: web"):
        load_recipe(path)


def test_not_yaml_and_missing_file(kit, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(broken)
    with pytest.raises(RecipeError, match=r"absent.yaml: no such file, and not a bundled recipe \(sample, phase5\)"):
        load_recipe(tmp_path / "absent.yaml")
    (tmp_path / "folder.yaml").mkdir()
    with pytest.raises(RecipeError, match="cannot read it"):
        load_recipe(tmp_path / "folder.yaml")


def test_bundled_recipes_by_name_come_from_the_installed_package(tmp_path, monkeypatch):
    package = Path(str(files("apertus_compliance")))
    for name, file in (
        ("sample", "sample.yaml"),
        ("phase5", "apertus-phase5.yaml"),
        ("apertus-phase5", "apertus-phase5.yaml"),
    ):
        loaded = load_recipe(name)
        assert loaded.path == (package / "recipes" / file).resolve() and loaded.bundled == name.removeprefix("apertus-")
    assert load_recipe(bundled_recipe("sample")).bundled == "sample"  # the file itself is recognized too
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sample").write_text((package / "recipes" / "sample.yaml").read_text())
    assert load_recipe("sample").path == tmp_path / "sample"  # an existing file wins over a name
    assert load_recipe("sample").bundled is None
    with pytest.raises(RecipeError, match="'nope': not a bundled recipe"):
        bundled_recipe("nope")


def test_inputs_are_checked_before_any_work(kit):
    with pytest.raises(RecipeError, match=r"source web: no files match sources/\*.parquet"):
        plan_sources(load_recipe(kit.write_recipe([_source()])))

    kit.write_parquet("a.parquet", [{"body": "text", "url": "https://a.example/"}])
    with pytest.raises(RecipeError, match=r"a.parquet: no column for fields.text = 'text', fields.id = 'id'"):
        plan_sources(load_recipe(kit.write_recipe([_source()])))

    truncated = kit.write_parquet("a.parquet", kit.web_rows(50))
    truncated.write_bytes(truncated.read_bytes()[:-100])
    with pytest.raises(RecipeError, match="a.parquet: not a readable parquet file"):
        plan_sources(load_recipe(kit.write_recipe([_source()])))

    (kit.root / "sources" / "x.warc.gz").write_text("not a warc")
    with pytest.raises(RecipeError, match="not a WARC file"):
        plan_sources(load_recipe(kit.write_recipe([_source(location="sources/*.warc.gz", format="warc")])))


@pytest.mark.parametrize(
    ("step", "args", "message"),
    [
        ("datatrove.pipeline.filters.NoSuchFilter", {}, "cannot import"),
        ("datatrove.pipeline.writers.JsonlWriter", {}, "is not a datatrove BaseFilter"),
        ("datatrove.pipeline.filters.RegexFilter", {"pattern": "x"}, "bad arguments"),
    ],
)
def test_extra_filters_are_checked(kit, step, args, message):
    kit.write_parquet("a.parquet", kit.web_rows(5))
    path = kit.write_recipe([_source(filters=[{"id": "extra", "step": step, "args": args}])])
    with pytest.raises(RecipeError, match=message):
        kit.run(path)
