"""The rebuild submitted to a real single-node Slurm (Debian's packages, started by the test) gives the
local executor's bytes; and the errors a login node can give."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from apertus_compliance.paths import bundled_data
from apertus_compliance.pipeline.recipe import bundled_recipe

COMMAND = str(Path(sys.executable).parent / "apertus-compliance")
START_SLURM = Path(__file__).resolve().parents[2] / "scripts" / "start_local_slurm.sh"


@pytest.fixture(scope="module")
def slurm(tmp_path_factory) -> dict:
    """Environment variables for a running single-node Slurm cluster (started here; needs root or a cluster)."""
    if os.environ.get("SLURM_CONF") and shutil.which("sbatch"):
        return {}
    if os.geteuid() != 0:
        pytest.skip("no Slurm cluster configured (SLURM_CONF) and not root to start one with scripts/start_local_slurm.sh")
    folder = tmp_path_factory.mktemp("slurm")
    started = subprocess.run(["bash", str(START_SLURM), str(folder)], capture_output=True, text=True, timeout=300)
    assert started.returncode == 0, started.stdout + started.stderr
    return {"SLURM_CONF": str(folder / "slurm.conf")}


def sample_recipe(folder: Path, **slurm_settings) -> Path:
    """The bundled sample recipe with absolute source paths and Slurm settings."""
    source = Path(bundled_recipe("sample"))
    recipe = yaml.safe_load(source.read_text().replace("../data/", f"{bundled_data()}/"))
    recipe["executor"] = {"name": "slurm", "workers": 2, "slurm": slurm_settings}
    path = folder / "sample-slurm.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def queued_jobs(env: dict) -> list[str]:
    done = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True, env={**os.environ, **env})
    return [line.split("_")[0] for line in done.stdout.split()]


def run(*arguments: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([COMMAND, *arguments], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env})


def test_slurm_rebuild_writes_the_local_executors_bytes(slurm, sample_run, tmp_path, hashes):
    recipe = sample_recipe(tmp_path, partition="debug", time="00:20:00", mem_per_cpu_gb=1)
    run_dir = tmp_path / "run"
    submitted = run("rebuild", "--recipe", str(recipe), "--out", str(run_dir), "--json", env=slurm)
    assert submitted.returncode == 0, submitted.stderr
    jobs = json.loads(submitted.stdout)["submitted"]
    assert set(jobs["filter"]) == set(sample_run.lock["sources"]) and jobs["finish"]
    lock_file = run_dir / "rebuild.lock.json"
    deadline = time.monotonic() + 240
    while jobs["finish"] in queued_jobs(slurm) and time.monotonic() < deadline:
        time.sleep(1)
    finish_log = run_dir / "logs" / "slurm" / f"finish-{jobs['finish']}.out"
    assert lock_file.is_file(), finish_log.read_text()[-3000:] if finish_log.is_file() else queued_jobs(slurm)
    lock = json.loads(lock_file.read_text())
    assert lock["executor"]["name"] == "slurm"
    assert hashes(run_dir) == hashes(sample_run.dir)
    script = (run_dir / "logs" / "fineweb2-hq" / "filter" / "launch_script.slurm").read_text()
    assert "#SBATCH --partition=debug" in script and "#SBATCH --array=0-2" in script
    assert "launch_pickled_pipeline" in script
    finish = (run_dir / "logs" / "slurm" / "finish.slurm").read_text()
    assert "--executor local" in finish and "#SBATCH --cpus-per-task=2" in finish

    again = run("rebuild", "--recipe", str(recipe), "--out", str(run_dir), "--json", env=slurm)
    assert again.returncode == 0, again.stderr  # resubmitting a finished run submits only the finishing job
    assert set(json.loads(again.stdout)["submitted"]["filter"].values()) == {-1}


def test_slurm_settings_and_sbatch_are_checked_before_any_work(tmp_path):
    recipe = sample_recipe(tmp_path)
    failed = run("rebuild", "--recipe", str(recipe), "--out", str(tmp_path / "run"), env={})
    assert failed.returncode == 1 and "executor.slurm.partition is required" in failed.stderr
    recipe = sample_recipe(tmp_path, partition="debug")
    no_sbatch = {"PATH": str(Path(sys.executable).parent)}  # this virtualenv, no Slurm client
    failed = run("rebuild", "--recipe", str(recipe), "--out", str(tmp_path / "run"), env=no_sbatch)
    assert failed.returncode == 1 and "sbatch not found: submit from a Slurm login node" in failed.stderr
    assert not (tmp_path / "run").exists()
