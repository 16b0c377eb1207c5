"""manifest commands as a user runs them: the installed console script on real runs."""

import json
import shutil
import subprocess
import sys
from pathlib import Path


from apertus_compliance.paths import bundled_data

COMMAND = str(Path(sys.executable).parent / "apertus-compliance")
PROVIDER = str(bundled_data() / "providers" / "sample.yaml")


def run(*args: str, cwd: Path, ok: int = 0) -> subprocess.CompletedProcess:
    done = subprocess.run([COMMAND, *args], capture_output=True, text=True, cwd=cwd, timeout=300)
    assert done.returncode == ok, done.stdout + done.stderr
    return done


def test_all_documents_and_diff(sample_dir, tmp_path):
    done = run("manifest", "all", "--run", str(sample_dir), "--provider", PROVIDER, "--out", "docs", cwd=tmp_path)
    assert "eu-public-summary.html" in done.stdout
    summary = json.loads((tmp_path / "docs" / "eu-public-summary.json").read_text())
    lock = json.loads((sample_dir / "rebuild.lock.json").read_text())
    assert json.dumps(summary).count(f"{sum(entry['tokens']['kept'] for entry in lock['sources'].values())}") >= 1
    assert (sample_dir / "croissant.json").is_file() and (sample_dir / "README.md").read_text().startswith("---\n")

    other = tmp_path / "other"
    shutil.copytree(sample_dir, other)
    shutil.rmtree(other / "mixture" / "parallel")
    failed = run("manifest", "eu-summary", "--run", str(other), "--provider", PROVIDER, "--out", "x", cwd=tmp_path,
                 ok=1)
    assert "the lock does not verify" in failed.stderr and "mixture/parallel/00000.parquet: missing" in failed.stderr

    same = run("manifest", "diff", str(sample_dir), str(sample_dir), "--json", cwd=tmp_path)
    assert json.loads(same.stdout)["totals"]


def test_a_provider_file_with_gaps_lists_them(sample_dir, tmp_path):
    provider = tmp_path / "provider.yaml"
    provider.write_text("provider: Somebody\nmodels: [{name: m, version: '1'}]\n")
    failed = run("manifest", "model-doc", "--run", str(sample_dir), "--provider", str(provider), "--out", "x",
                 cwd=tmp_path, ok=1)
    assert "missing: contact, authorised_representative, dependencies, placed_on_market" in failed.stderr
    assert not (tmp_path / "x").exists()
