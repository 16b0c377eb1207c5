"""The console command as a user meets it: one error path for every area, quiet broken pipes, and a
``--help`` that imports none of the heavy libraries."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import click
import pytest

from apertus_compliance import cli
from apertus_compliance.errors import ApertusError

COMMAND = str(Path(sys.executable).parent / "apertus-compliance")
HEAVY = (
    "datatrove",
    "duckdb",
    "pyarrow",
    "torch",
    "transformers",
    "presidio_analyzer",
    "presidio_anonymizer",
    "ray",
    "spacy",
    "numpy",
    "pandas",
)


@pytest.fixture
def bad_inputs(tmp_path: Path) -> Path:
    """A folder that is nothing in particular, a YAML file that is a list, a key that is no key."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "list.yaml").write_text("- not a mapping\n")
    (tmp_path / "bad.pem").write_text("not a key\n")
    return tmp_path


# (arguments, text the error line contains, exit status): a known error in each area's commands
ERRORS = [
    (["optout", "agents", "no-such-list"], "agent list 'no-such-list': neither a file nor a bundled list", 1),
    (["optout", "check", "--snapshot", "empty", "https://example.org/"], "snapshot empty: no manifest.json", 1),
    (
        ["optout", "snapshot", "--registry", "list.yaml", "--as-of", "2025-01-31", "--out", "snap"],
        "registry list.yaml: not a DuckDB registry",
        1,
    ),
    (["optout", "check"], "give one or more URLs (see: apertus-compliance optout check --help)", 2),
    (["rebuild", "--recipe", "list.yaml", "--out", "run"], "list.yaml: expected a mapping at the top level", 1),
    (["verify", "empty"], "empty: no rebuild.lock.json (not a finished rebuild)", 1),
    (["verify", "no-such-folder"], "'no-such-folder' does not exist", 2),
    (["deletion-list", "verify", "empty", "--public-key", "bad.pem"], "bad.pem: not a readable ed25519 public key", 1),
    (["deletion-list", "diff", "empty", "empty"], "empty: cannot read its manifest", 1),
    (["redact"], "give --deletion-list (with --public-key) or at least one --pattern", 2),
    (["serve", "--deletion-list", "empty", "--public-key", "bad.pem", "--refresh", "5x"], "interval '5x'", 1),
    (
        ["proxy", "--upstream", "http://127.0.0.1:9/v1", "--deletion-list", "empty", "--public-key", "bad.pem"],
        "bad.pem: not a readable ed25519 public key",
        1,
    ),
    (
        ["manifest", "card", "--run", "empty", "--provider", "list.yaml", "--out", "docs"],
        "provider file list.yaml: expected a mapping",
        1,
    ),
    (["manifest", "diff", "empty", "empty"], "empty: no rebuild.lock.json", 1),
    (["optout", "--no-such-option"], "No such option '--no-such-option'", 2),
]


@pytest.mark.parametrize(("arguments", "message", "status"), ERRORS, ids=[" ".join(row[0][:2]) for row in ERRORS])
def test_every_area_reports_errors_as_one_line(
    bad_inputs: Path, arguments: list[str], message: str, status: int
) -> None:
    done = subprocess.run([COMMAND, *arguments], capture_output=True, text=True, cwd=bad_inputs, timeout=120)
    assert done.returncode == status, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert message in lines[0]


def test_a_bug_keeps_its_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    """Only errors the user can fix become one line; anything else is a bug and shows where it happened."""

    @click.command("boom")
    def boom() -> None:
        raise KeyError("a bug")

    @click.command("refuse")
    def refuse() -> None:
        raise ApertusError("input.csv: line 3 has no value")

    cli.main.add_command(boom)
    cli.main.add_command(refuse)
    try:
        assert cli.run(["boom"]) == 1
        error = capsys.readouterr().err
        assert "Traceback" in error and "KeyError: 'a bug'" in error and "error: " not in error
        assert cli.run(["refuse"]) == 1
        assert capsys.readouterr().err == "error: input.csv: line 3 has no value\n"
    finally:
        del cli.main.commands["boom"], cli.main.commands["refuse"]


def test_a_reader_that_leaves_early_ends_the_command_quietly(tmp_path: Path) -> None:
    """``apertus-compliance ... | head -1``: far more output than a pipe holds, a reader that takes one
    line and closes; no traceback, and the status a shell reports for SIGPIPE."""
    agents = tmp_path / "agents.txt"
    agents.write_text("".join(f"ExampleBot{number:06d}\n" for number in range(30_000)))  # ~500 KB of output
    process = subprocess.Popen(
        [COMMAND, "optout", "agents", str(agents)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout.readline().startswith(b"# ")
    process.stdout.close()
    error = process.stderr.read().decode()
    assert process.wait(timeout=120) == cli.BROKEN_PIPE_EXIT
    assert error == ""


def test_a_shell_pipe_into_head_prints_no_traceback(tmp_path: Path) -> None:
    agents = tmp_path / "agents.txt"
    agents.write_text("".join(f"ExampleBot{number:06d}\n" for number in range(30_000)))
    done = subprocess.run(
        ["bash", "-c", f"'{COMMAND}' optout agents '{agents}' | head -1"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.startswith("# ") and len(done.stdout.splitlines()) == 1
    assert done.stderr == ""


HELP_PROBE = textwrap.dedent("""
    import contextlib, io, json, sys
    from apertus_compliance.cli import run
    heavy, loaded = {heavy!r}, {{}}
    for arguments in {commands!r}:
        with contextlib.redirect_stdout(io.StringIO()) as shown:
            assert run(arguments) == 0, arguments
        assert shown.getvalue(), arguments
        loaded[" ".join(arguments)] = sorted(name for name in heavy if name in sys.modules)
    print(json.dumps(loaded))
""")
HELPS = [
    ["--help"],
    ["rebuild", "--help"],
    ["verify", "--help"],
    ["serve", "--help"],
    ["proxy", "--help"],
    ["optout", "--help"],
    ["optout", "ingest", "--help"],
    ["optout", "check", "--help"],
    ["deletion-list", "--help"],
    ["deletion-list", "build", "--help"],
    ["redact", "--help"],
    ["manifest", "--help"],
    ["manifest", "all", "--help"],
    ["--version"],
]


def test_help_imports_nothing_heavy() -> None:
    """Every help, one after the other in one process: none of them loads datatrove, DuckDB, pyarrow,
    torch, transformers, presidio, ray (nor numpy)."""
    probe = HELP_PROBE.format(heavy=HEAVY, commands=HELPS)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {" ".join(arguments): [] for arguments in HELPS}


def test_python_dash_m_runs_the_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "apertus_compliance.cli", "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and "Usage: apertus-compliance" in done.stdout
