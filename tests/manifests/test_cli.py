"""manifest commands as a user runs them: the installed console script on real runs."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from apertus_compliance.paths import bundled_data
from apertus_compliance.pipeline.rebuild import rebuild
from apertus_compliance.pipeline.recipe import bundled_recipe, load_recipe

COMMAND = str(Path(sys.executable).parent / "apertus-compliance")
PROVIDER = str(bundled_data() / "providers" / "sample.yaml")


def run(*args: str, cwd: Path, ok: int = 0) -> subprocess.CompletedProcess:
    done = subprocess.run([COMMAND, *args], capture_output=True, text=True, cwd=cwd, timeout=300)
    assert done.returncode == ok, done.stdout + done.stderr
    return done


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("manifest-cli") / "run"
    rebuild(load_recipe(bundled_recipe("sample")), run_dir, workers=1, echo=lambda message: None)
    return run_dir


def test_all_documents_and_diff(sample, tmp_path):
    done = run("manifest", "all", "--run", str(sample), "--provider", PROVIDER, "--out", "docs", cwd=tmp_path)
    assert "eu-public-summary.html" in done.stdout
    summary = json.loads((tmp_path / "docs" / "eu-public-summary.json").read_text())
    lock = json.loads((sample / "rebuild.lock.json").read_text())
    assert json.dumps(summary).count(f"{sum(entry['tokens']['kept'] for entry in lock['sources'].values())}") >= 1
    assert (sample / "croissant.json").is_file() and (sample / "README.md").read_text().startswith("---\n")

    other = tmp_path / "other"
    shutil.copytree(sample, other)
    shutil.rmtree(other / "mixture" / "parallel")
    failed = run("manifest", "eu-summary", "--run", str(other), "--provider", PROVIDER, "--out", "x", cwd=tmp_path,
                 ok=1)
    assert "the lock does not verify" in failed.stderr and "mixture/parallel/00000.parquet: missing" in failed.stderr

    same = run("manifest", "diff", str(sample), str(sample), "--json", cwd=tmp_path)
    assert json.loads(same.stdout)["totals"]


def test_a_provider_file_with_gaps_lists_them(sample, tmp_path):
    provider = tmp_path / "provider.yaml"
    provider.write_text("provider: Somebody\nmodels: [{name: m, version: '1'}]\n")
    failed = run("manifest", "model-doc", "--run", str(sample), "--provider", str(provider), "--out", "x",
                 cwd=tmp_path, ok=1)
    assert "missing: contact, authorised_representative, dependencies, placed_on_market" in failed.stderr
    assert not (tmp_path / "x").exists()
