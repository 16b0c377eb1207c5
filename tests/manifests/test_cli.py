"""manifest commands as a user runs them: the installed console script on real runs."""

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from apertus_compliance.manifests.card import dataset_card
from apertus_compliance.manifests.inventory import inventory_from_provider
from apertus_compliance.manifests.provider import load_provider
from apertus_compliance.manifests.run import Run
from apertus_compliance.paths import bundled_data

COMMAND = str(Path(sys.executable).parent / "apertus-compliance")
PROVIDER = str(bundled_data() / "providers" / "sample.yaml")


def run(*args: str, cwd: Path, ok: int = 0) -> subprocess.CompletedProcess:
    done = subprocess.run([COMMAND, *args], capture_output=True, text=True, cwd=cwd, timeout=300)
    assert done.returncode == ok, done.stdout + done.stderr
    return done


@pytest.mark.slow
def test_all_documents_and_diff(sample_dir, tmp_path):
    run_dir = tmp_path / "run"  # a copy: the documents go into the run folder
    shutil.copytree(sample_dir, run_dir)
    done = run("manifest", "all", "--run", str(run_dir), "--provider", PROVIDER, "--out", "docs", cwd=tmp_path)
    assert "eu-public-summary.html" in done.stdout
    summary = json.loads((tmp_path / "docs" / "eu-public-summary.json").read_text())
    lock = json.loads((sample_dir / "rebuild.lock.json").read_text())
    assert json.dumps(summary).count(f"{sum(entry['tokens']['kept'] for entry in lock['sources'].values())}") >= 1
    assert (run_dir / "croissant.json").is_file() and (run_dir / "README.md").read_text().startswith("---\n")

    before = (run_dir / "README.md").read_bytes()
    failed = run("manifest", "card", "--run", str(run_dir), "--provider", PROVIDER, "--out", "docs", cwd=tmp_path, ok=1)
    assert f"documents exist: {run_dir / 'README.md'}; use --force" in failed.stderr
    assert (run_dir / "README.md").read_bytes() == before
    failed = run(
        "manifest", "eu-summary", "--run", str(run_dir), "--provider", PROVIDER, "--out", "docs", cwd=tmp_path, ok=1
    )
    assert "docs/eu-public-summary.json" in failed.stderr and "docs/eu-public-summary.schema.json" in failed.stderr
    run("manifest", "card", "--run", str(run_dir), "--provider", PROVIDER, "--out", "docs", "--force", cwd=tmp_path)
    assert not [path for path in run_dir.iterdir() if path.name.startswith(".")]  # no temporary files left

    other = tmp_path / "other"
    shutil.copytree(sample_dir, other)
    shutil.rmtree(other / "mixture" / "parallel")
    failed = run(
        "manifest", "eu-summary", "--run", str(other), "--provider", PROVIDER, "--out", "x", cwd=tmp_path, ok=1
    )
    assert "the lock does not verify" in failed.stderr and "mixture/parallel/00000.parquet: missing" in failed.stderr

    same = run("manifest", "diff", str(sample_dir), str(sample_dir), "--json", cwd=tmp_path)
    assert json.loads(same.stdout)["totals"]


def test_a_provider_file_with_gaps_lists_them(sample_dir, tmp_path):
    provider = tmp_path / "provider.yaml"
    provider.write_text("provider: Somebody\nmodels: [{name: m, version: '1'}]\n")
    failed = run(
        "manifest", "model-doc", "--run", str(sample_dir), "--provider", str(provider), "--out", "x", cwd=tmp_path, ok=1
    )
    assert "missing: contact, authorised_representative, dependencies, placed_on_market" in failed.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_the_cards_reproduce_steps_work_as_written(sample_dir, tmp_path):
    card = dataset_card(Run.open(sample_dir), inventory_from_provider(load_provider(PROVIDER), [sample_dir]).provider)
    block = card.split("## How to reproduce", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    lines = [line for line in block.splitlines() if line.strip()]
    assert lines[0] == "pip install apertus-compliance"  # done: the package runs these tests
    assert lines[1:] == ["apertus-compliance rebuild --recipe sample --out run", "apertus-compliance verify run"]
    for line in lines[1:]:
        command = shlex.split(line)
        assert command[0] == "apertus-compliance"
        run(*command[1:], cwd=tmp_path)
    assert (
        json.loads((tmp_path / "run" / "rebuild.lock.json").read_text())["outputs"]
        == json.loads((sample_dir / "rebuild.lock.json").read_text())["outputs"]
    )
