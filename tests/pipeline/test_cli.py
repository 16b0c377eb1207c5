"""rebuild and verify as a user runs them: the installed console script, a fresh directory."""

import json
import os
import subprocess
import sys
from pathlib import Path

COMMAND = str(Path(sys.executable).parent / "apertus-compliance")


def run(*args: str, cwd: Path, ok: int = 0) -> subprocess.CompletedProcess:
    done = subprocess.run([COMMAND, *args], capture_output=True, text=True, timeout=300, cwd=cwd)
    assert done.returncode == ok, done.stdout + done.stderr
    return done


def test_help(tmp_path):
    for args in (["rebuild"], ["verify"]):
        assert "Usage:" in run(*args, "--help", cwd=tmp_path).stdout


def test_rebuild_with_no_arguments_runs_the_sample_and_verifies(tmp_path):
    done = run("rebuild", cwd=tmp_path)
    for source_id in ("fineweb2-hq", "dclm-edu", "starcoder", "finemath", "wikipedia", "parallel"):
        assert f"\n{source_id} " in done.stdout
    assert "robots" in done.stdout and "tokens kept / target" in done.stdout
    assert (tmp_path / "out" / "rebuild.lock.json").is_file()
    for document in ("documents/eu-public-summary.md", "documents/eu-public-summary.html", "croissant.json",
                     "README.md", "documents/copyright-policy.md", "documents/model-documentation-data.json"):
        assert (tmp_path / "out" / document).is_file(), document  # the sample run ends with its documents
    again = run("rebuild", "--json", cwd=tmp_path)  # resumes: nothing to do, same lock
    assert json.loads(again.stdout) == json.loads((tmp_path / "out" / "rebuild.lock.json").read_text())

    assert "verified" in run("verify", "out", cwd=tmp_path).stdout
    shard = sorted((tmp_path / "out" / "mixture" / "wikipedia").glob("*.parquet"))[0]
    shard.write_bytes(shard.read_bytes() + b"tampered")
    failed = run("verify", "out", cwd=tmp_path, ok=1)
    assert f"MISMATCH mixture/wikipedia/{shard.name}: sha256 differs from the lock" in failed.stdout
    assert "difference(s) from the lock" in failed.stderr


def test_errors_name_the_input(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: x\nseed: 1\nsources: []\nflavour: sweet\n")
    failed = run("rebuild", "--recipe", str(recipe), cwd=tmp_path, ok=1)
    assert str(recipe) in failed.stderr and "flavour: Extra inputs are not permitted" in failed.stderr
    assert "Traceback" not in failed.stderr
    (tmp_path / "empty").mkdir()
    failed = run("verify", "empty", cwd=tmp_path, ok=1)
    assert "no rebuild.lock.json" in failed.stderr


def test_a_hub_source_that_cannot_be_listed_stops_before_any_work(tmp_path):
    recipe = tmp_path / "hub.yaml"
    recipe.write_text(
        "name: hub\nseed: 1\nsources:\n"
        "  - {id: web, location: 'hf://datasets/HuggingFaceFW/fineweb-2@v2.0.1/data/*.parquet', format: parquet,\n"
        "     target_tokens: 10, optout: false}\n")
    done = subprocess.run([COMMAND, "rebuild", "--recipe", str(recipe), "--out", "run"], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path, env=os.environ | {"HF_HUB_OFFLINE": "1"})
    assert done.returncode == 1
    assert "source web: cannot list hf://datasets/HuggingFaceFW/fineweb-2@v2.0.1/data/*.parquet" in done.stderr
    assert "offline mode" in done.stderr and not (tmp_path / "run").exists()
