"""Output folders are never overwritten silently (``folders``), and progress shows on a terminal only
(``progress``); ``deletion-list build`` as the example of a command writing a folder."""

import io
import subprocess
import sys
import time
from pathlib import Path

import pytest

from apertus_compliance.folders import OutputExistsError, check_output_folder, output_folder
from apertus_compliance.progress import Progress, progress_wanted

COMMAND = str(Path(sys.executable).parent / "apertus-compliance")


def test_a_new_or_empty_folder_is_written_through_a_sibling(tmp_path):
    for out in (tmp_path / "new" / "nested", tmp_path / "empty"):
        if out.name == "empty":
            out.mkdir()
        with output_folder(out) as staging:
            assert staging.parent == out.parent and staging.name.startswith(f".{out.name}.")
            assert not (out / "a.txt").exists()
            (staging / "a.txt").write_text("a")
        assert (out / "a.txt").read_text() == "a" and not staging.exists()


def test_a_folder_with_content_is_refused_unless_force(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(OutputExistsError, match=f"{out}: the folder exists and is not empty; use --force"):
        with output_folder(out):
            pytest.fail("nothing may be written")
    with pytest.raises(RuntimeError, match="half-way"), output_folder(out, force=True) as staging:
        (staging / "new.txt").write_text("new")
        raise RuntimeError("a failure half-way: the old folder stays, the new one goes")
    assert [path.name for path in out.iterdir()] == ["old.txt"]
    assert [path.name for path in tmp_path.iterdir()] == ["out"]
    with output_folder(out, force=True) as staging:
        (staging / "new.txt").write_text("new")
    assert [path.name for path in out.iterdir()] == ["new.txt"]
    assert [path.name for path in tmp_path.iterdir()] == ["out"]

    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputExistsError, match="exists and is not a folder"):
        check_output_folder(tmp_path / "file", force=True)


def test_progress_on_a_terminal_rewrites_one_line_and_erases_it():
    stream = io.StringIO()
    progress = Progress(stream, enabled=True)
    progress.update("rebuild: filter web (1/2 sources) 1/8 tasks")
    progress.update("rebuild: lock")
    progress.echo(lambda message: stream.write(f"[{message}]"))("hello")
    text = stream.getvalue()
    assert text.startswith("\rrebuild: filter web (1/2 sources) 1/8 tasks\rrebuild: lock ")
    padding = " " * (len("rebuild: filter web (1/2 sources) 1/8 tasks") - len("rebuild: lock"))
    assert text.endswith("\rrebuild: lock" + padding + "\r" + " " * 13 + "\r[hello]")  # erased before other output
    progress.update("verify: shards 1/3")
    progress.clear()
    assert stream.getvalue().endswith("\rverify: shards 1/3\r" + " " * 18 + "\r")  # and at the end


def test_progress_is_silent_in_pipes_and_ci(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("CI", raising=False)
    assert progress_wanted(Terminal()) and not progress_wanted(io.StringIO())
    for value in ("true", "1", "yes"):
        monkeypatch.setenv("CI", value)
        assert not progress_wanted(Terminal())
    monkeypatch.setenv("CI", "false")
    assert progress_wanted(Terminal())

    stream = io.StringIO()
    quiet = Progress(stream)  # not a terminal
    quiet.update("anything")
    with quiet.watch(lambda: "polled"):
        pass
    quiet.clear()
    assert stream.getvalue() == ""


def test_watch_polls_while_the_block_runs():
    stream = io.StringIO()
    progress = Progress(stream, enabled=True)
    done = iter(range(1000))
    with progress.watch(lambda: f"work {next(done)}/1000", interval=0.01):
        time.sleep(0.05)
    assert "\rwork 0/1000" in stream.getvalue() and stream.getvalue().count("\r") >= 2


@pytest.mark.slow
def test_deletion_list_build_refuses_a_release_folder_with_content_unless_force(tmp_path):
    def command(*args: str, ok: int = 0) -> subprocess.CompletedProcess:
        done = subprocess.run([COMMAND, *args], capture_output=True, text=True, cwd=tmp_path, timeout=120)
        assert done.returncode == ok, done.stdout + done.stderr
        return done

    (tmp_path / "requests.csv").write_text("value,category\nHans Müller,name\n")
    command("deletion-list", "keygen", "--out", "keys")
    build = (
        "deletion-list",
        "build",
        "--input",
        "requests.csv",
        "--key",
        "keys/private.key",
        "--out",
        "release",
        "--created",
        "2026-11-01",
    )
    command(*build, "--version", "2026.11")
    manifest = (tmp_path / "release" / "manifest.json").read_text()
    failed = command(*build, "--version", "2026.12", ok=1)
    assert f"{tmp_path / 'release'}: the folder exists and is not empty; use --force" in failed.stderr
    assert (tmp_path / "release" / "manifest.json").read_text() == manifest  # untouched

    command(*build, "--version", "2026.12", "--force")
    assert '"list_version": "2026.12"' in (tmp_path / "release" / "manifest.json").read_text()
    command("deletion-list", "verify", "release", "--public-key", "keys/public.key")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["keys", "release", "requests.csv"]
