"""``manifest diff``: what changed between two sets of runs, here after opt-out filtering was
turned on for one source (registered domains whose kept content fell to zero, removals per signal)."""

import os
import re

import pytest
import yaml

from apertus_compliance.manifests.domains import bytes_by_domain
from apertus_compliance.manifests.run import Run
from apertus_compliance.manifests.summary_diff import diff_markdown, diff_summaries
from apertus_compliance.pipeline.rebuild import rebuild
from apertus_compliance.pipeline.recipe import bundled_recipe, load_recipe


@pytest.fixture(scope="module")
def no_optout_run(tmp_path_factory) -> Run:
    """The sample recipe with opt-out filtering turned off for dclm-edu (a copy, absolute paths)."""
    original = bundled_recipe("sample")
    recipe = yaml.safe_load(original.read_text())
    for source in recipe["sources"]:
        source["location"] = os.path.normpath(original.parent / source["location"])
        if source["id"] == "dclm-edu":
            source["optout"] = False
    folder = tmp_path_factory.mktemp("diff-no-optout")
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    rebuild(load_recipe(folder / "recipe.yaml"), folder / "run", workers=1, echo=lambda message: None)
    return Run.open(folder / "run")


def _kept_domains(run: Run, source_id: str | None = None) -> set[str]:
    shards = [run.dir / shard.path for shard in run.lock.outputs if source_id in (None, shard.source_id)]
    return {domain for domain, _, _ in bytes_by_domain(shards)[0]}


def test_diff_explains_what_new_opt_outs_changed(no_optout_run, sample_run):
    before, after = no_optout_run, sample_run  # opt-outs turned on for dclm-edu
    diff = diff_summaries([before], [after])
    dclm_before, dclm_after = before.sources["dclm-edu"], after.sources["dclm-edu"]
    robots = diff["sources"]["dclm-edu"]["removed"]["robots"]["documents"]
    assert robots == {"old": 0, "new": dclm_after.documents.removed["robots"], "change": robots["new"]}
    assert "robots" not in dclm_before.documents.removed
    assert diff["sources"]["dclm-edu"]["tokens_kept"] == {
        "old": dclm_before.tokens.kept,
        "new": dclm_after.tokens.kept,
        "change": dclm_after.tokens.kept - dclm_before.tokens.kept,
    }
    assert diff["sources"]["fineweb2-hq"]["tokens_kept"]["change"] == 0
    assert "budget" not in diff["removed_by_signal"] and "too-short" in diff["removed_by_reason"]

    disappeared = {item["domain"] for item in diff["domains"]["disappeared"]}
    assert disappeared and not diff["domains"]["appeared"]
    assert disappeared <= _kept_domains(before, "dclm-edu")
    assert not disappeared & _kept_domains(after)
    assert diff["datasets"] == {"added": [], "removed": [], "revision_changed": []}

    reverse = diff_summaries([after], [before])
    assert {item["domain"] for item in reverse["domains"]["appeared"]} == disappeared

    markdown = diff_markdown([before], [after])
    first = diff["domains"]["disappeared"][0]["domain"]
    assert re.search(rf"\*\*Disappeared[^\n]*{re.escape(first)}", markdown)
    assert "| dclm-edu | robots | 0 |" in markdown


def test_the_same_run_changes_nothing(sample_run):
    diff = diff_summaries([sample_run], [sample_run])
    assert diff["totals"]["tokens_kept"]["change"] == 0
    assert "No change in kept documents or tokens." in diff_markdown([sample_run], [sample_run])
