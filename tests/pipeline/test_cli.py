"""rebuild and verify as a user runs them: the installed console script, a fresh directory."""

import json
import os
import pty
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from apertus_compliance.pipeline.recipe import load_recipe

COMMAND = str(Path(sys.executable).parent / "apertus-compliance")


def run(*args: str, cwd: Path, ok: int = 0) -> subprocess.CompletedProcess:
    done = subprocess.run([COMMAND, *args], capture_output=True, text=True, timeout=300, cwd=cwd)
    assert done.returncode == ok, done.stdout + done.stderr
    return done


def test_help(tmp_path):
    for args in (["rebuild"], ["verify"]):
        assert "Usage:" in run(*args, "--help", cwd=tmp_path).stdout


@pytest.mark.slow
def test_rebuild_with_no_arguments_runs_the_sample_and_verifies(tmp_path, tmp_path_factory):
    done = run("rebuild", cwd=tmp_path)
    for source_id in ("fineweb2-hq", "dclm-edu", "starcoder", "finemath", "wikipedia", "parallel"):
        assert f"\n{source_id} " in done.stdout
    assert "robots" in done.stdout and "tokens kept / target" in done.stdout
    ingested = run("optout", "ingest", "--bundled-sample", "--registry", "r.duckdb", cwd=tmp_path).stdout
    summary = ingested.splitlines()[0].split("; 577 in ")[0]  # what `optout ingest` says, the rebuild says too
    assert summary.startswith("577 new observations (597 read, 20 already in the registry); 5 items not ")
    assert f"opt-out: ingested the bundled signals: {summary}\n" in done.stdout
    assert (tmp_path / "out" / "rebuild.lock.json").is_file()
    for document in (
        "documents/eu-public-summary.md",
        "documents/eu-public-summary.html",
        "croissant.json",
        "README.md",
        "documents/copyright-policy.md",
        "documents/model-documentation-data.json",
    ):
        assert (tmp_path / "out" / document).is_file(), document  # the sample run ends with its documents
    again = run("rebuild", "--json", cwd=tmp_path)  # resumes: nothing to do, same lock
    assert json.loads(again.stdout) == json.loads((tmp_path / "out" / "rebuild.lock.json").read_text())

    assert "verified" in run("verify", "out", cwd=tmp_path).stdout
    lock = json.loads((tmp_path / "out" / "rebuild.lock.json").read_text())
    assert lock["recipe"]["bundled"] == "sample" and lock["documents"]["complete"]
    assert lock["optout"]["agent_list"] == "apertus-2025-01"  # the name --agents and recipes take
    assert len(lock["documents"]["files"]) == 11

    elsewhere = tmp_path_factory.mktemp("elsewhere") / "copied"  # a run folder copied away verifies there
    shutil.copytree(tmp_path / "out", elsewhere)
    assert "verified" in run("verify", str(elsewhere), cwd=elsewhere.parent).stdout
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
        "     target_tokens: 10, optout: false}\n"
    )
    done = subprocess.run(
        [COMMAND, "rebuild", "--recipe", str(recipe), "--out", "run"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=os.environ | {"HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 1
    assert "source web: cannot list hf://datasets/HuggingFaceFW/fineweb-2@v2.0.1/data/*.parquet" in done.stderr
    assert "offline mode" in done.stderr and not (tmp_path / "run").exists()


@pytest.mark.slow
def test_an_interrupted_document_step_leaves_the_run_incomplete_until_rerun(tmp_path, monkeypatch):
    from apertus_compliance.manifests import eu_summary
    from apertus_compliance.pipeline.cli import rebuild_command
    from apertus_compliance.pipeline.lock import verify_run

    def interrupted(summary):  # the third document's writer (eu-public-summary.html): Ctrl-C
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(eu_summary, "to_html", interrupted)
        result = CliRunner().invoke(rebuild_command, ["--out", str(tmp_path / "out")])
    assert result.exit_code != 0
    run_dir = tmp_path / "out"
    lock = json.loads((run_dir / "rebuild.lock.json").read_text())
    assert lock["documents"]["complete"] is False and lock["documents"]["files"] == []
    written = sorted(path.name for path in (run_dir / "documents").iterdir())
    assert written == ["eu-public-summary.json", "eu-public-summary.md"]  # whole files only, no temporaries
    problems = verify_run(run_dir, echo=lambda message: None)
    assert problems == [
        "documents: incomplete (the document step did not finish); run the same rebuild command again to complete them"
    ]
    failed = run("verify", "out", cwd=tmp_path, ok=1)
    assert "MISMATCH documents: incomplete" in failed.stdout

    shards = {path: path.stat().st_mtime_ns for path in (run_dir / "mixture").glob("*/*.parquet")}
    run("rebuild", "--out", "out", cwd=tmp_path)  # completes the documents; the data part is not redone
    assert {path: path.stat().st_mtime_ns for path in (run_dir / "mixture").glob("*/*.parquet")} == shards
    lock = json.loads((run_dir / "rebuild.lock.json").read_text())
    assert lock["documents"]["complete"] and len(lock["documents"]["files"]) == 11
    assert "verified" in run("verify", "out", cwd=tmp_path).stdout

    (run_dir / "README.md").write_text("edited\n")
    assert "MISMATCH README.md: sha256 differs from the lock" in run("verify", "out", cwd=tmp_path, ok=1).stdout


@pytest.mark.slow
def test_rebuild_out_with_other_content_is_refused_unless_force(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    failed = run("rebuild", "--recipe", "sample", "--out", "out", cwd=tmp_path, ok=1)
    assert f"{tmp_path / 'out'}: the folder exists and is not empty; use --force" in failed.stderr
    assert "Traceback" not in failed.stderr and (tmp_path / "out" / "notes.txt").read_text() == "mine"

    run("rebuild", "--recipe", "sample", "--out", "out", "--force", cwd=tmp_path)
    assert not (tmp_path / "out" / "notes.txt").exists() and (tmp_path / "out" / "rebuild.lock.json").is_file()
    assert [path.name for path in tmp_path.iterdir()] == ["out"]  # no staging folder left beside it
    run("rebuild", "--recipe", "sample", "--out", "out", cwd=tmp_path)  # the same recipe resumes, no --force


def _with_terminal_stderr(args: list[str], cwd: Path, env: dict) -> tuple[int, str, str]:
    """Run the command with standard error on a pseudo-terminal; returns (status, stdout, terminal output)."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen([COMMAND, *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=terminal)
    os.close(terminal)
    seen = bytearray()
    reader = threading.Thread(target=_drain, args=(controller, seen))
    reader.start()
    stdout = process.stdout.read()
    status = process.wait(timeout=300)
    reader.join(timeout=60)
    os.close(controller)
    return status, stdout.decode(), seen.decode(errors="replace")


def _drain(controller: int, seen: bytearray) -> None:
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the other side closed
            return
        if not chunk:
            return
        seen += chunk


@pytest.mark.slow
def test_progress_shows_on_a_terminal_only(tmp_path):
    environment = {key: value for key, value in os.environ.items() if key != "CI"}
    status, stdout, terminal = _with_terminal_stderr(
        ["rebuild", "--recipe", "sample", "--out", "a"], tmp_path, environment
    )
    assert status == 0, stdout + terminal
    assert "\rrebuild: filter 6 sources " in terminal and "/11 tasks" in terminal  # one stage for all sources
    assert "rebuild: budget parallel (6/6 sources)" in terminal and "ingest: " in terminal
    assert "tokens kept / target" in stdout and "\r" not in stdout  # the summary table stays, on stdout

    status, _, terminal = _with_terminal_stderr(["verify", "a"], tmp_path, environment)
    assert status == 0 and "\rverify: shards " in terminal and "verify: re-run filter" in terminal

    status, _, terminal = _with_terminal_stderr(
        ["rebuild", "--recipe", "sample", "--out", "b"], tmp_path, environment | {"CI": "true"}
    )
    assert status == 0 and terminal == ""  # CI: quiet

    piped = run("rebuild", "--recipe", "sample", "--out", "c", cwd=tmp_path)  # a pipe: quiet
    assert piped.stderr == "" and "\r" not in piped.stdout
    assert [line for line in piped.stdout.splitlines() if "rebuild:" in line] == [
        f"rebuild: apertus-sample ({load_recipe('sample').path}) -> {tmp_path / 'c'}"
    ]
