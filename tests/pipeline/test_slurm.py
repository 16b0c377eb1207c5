"""The rebuild submitted to a real single-node Slurm (Debian's packages, started by the test) gives the
local executor's bytes; and the errors a login node can give.

The cluster is private to the test and leaves the machine as it found it: config, munge key and socket,
state and logs live in a folder of its own (not pytest's, which a later session deletes), on free ports;
the daemons it started are stopped by PID at teardown, also when a test fails; daemons that were
already running are never touched. See ``scripts/start_local_slurm.sh``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from apertus_compliance.paths import bundled_data
from apertus_compliance.pipeline.recipe import bundled_recipe

COMMAND = str(Path(sys.executable).parent / "apertus-compliance")
START_SLURM = Path(__file__).resolve().parents[2] / "scripts" / "start_local_slurm.sh"


NEEDED = ("slurmctld", "slurmd", "sbatch", "munged")


def tell(request: pytest.FixtureRequest, line: str) -> None:
    """A line on the terminal even while pytest captures output."""
    with request.config.pluginmanager.getplugin("capturemanager").global_and_fixture_disabled():
        print(f"\n{line}", flush=True)


def running(folder: Path) -> list[str]:
    """The daemons of ``folder/pids`` still alive ("name pid"): the PID's command line still names the folder."""
    alive = []
    for line in (folder / "pids").read_text().splitlines() if (folder / "pids").is_file() else []:
        name, pid = line.split()
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if f"{folder}/" in command:
            alive.append(line)
    return alive


@pytest.fixture(scope="module")
def slurm(request: pytest.FixtureRequest) -> Iterator[dict]:
    """Environment variables for a running single-node Slurm cluster: the user's (``SLURM_CONF``), or one
    started here as root and stopped after the module's tests."""
    if os.environ.get("SLURM_CONF") and shutil.which("sbatch"):
        yield {}
        return
    if os.geteuid() != 0:
        pytest.skip(
            "no Slurm cluster configured (SLURM_CONF) and not root to start one with scripts/start_local_slurm.sh"
        )
    missing = [name for name in NEEDED if shutil.which(name) is None]
    if missing:
        tell(
            request,
            f"test_slurm: {', '.join(missing)} missing: installing Debian's slurmctld slurmd slurm-client "
            "munge with apt-get (root)",
        )
    folder = Path(tempfile.mkdtemp(prefix="apertus-slurm-")).resolve()
    try:
        started = subprocess.run(["bash", str(START_SLURM), str(folder)], capture_output=True, text=True, timeout=900)
        assert started.returncode == 0, started.stdout + started.stderr
        yield {"SLURM_CONF": str(folder / "slurm.conf")}
    finally:
        stopped = subprocess.run(
            ["bash", str(START_SLURM), "--stop", str(folder)], capture_output=True, text=True, timeout=300
        )
        left = running(folder)
        assert not left, f"still running after --stop: {left}; {stopped.stderr}; logs in {folder}/log"
        shutil.rmtree(folder)


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
    return subprocess.run([COMMAND, *arguments], capture_output=True, text=True, timeout=300, env={**os.environ, **env})


@pytest.mark.slow
@pytest.mark.slurm
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
    assert "#SBATCH --partition=debug" in script and "launch_pickled_pipeline" in script
    assert "#SBATCH --array=0-0" in script  # one array task runs the source's 3 tasks in one process
    assert len(list((run_dir / "logs" / "fineweb2-hq" / "filter" / "completions").iterdir())) == 3
    assert len(list((run_dir / "logs" / "fineweb2-hq" / "filter" / "shards").iterdir())) == 3
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
