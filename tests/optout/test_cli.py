"""The optout commands as a user runs them: the installed console script, real files, exit codes."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

COMMAND = str(Path(sys.executable).parent / "apertus-compliance")  # the console script the install made
RESERVED = 3


def run(*args: str, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess:
    done = subprocess.run([COMMAND, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode in ok, done.stderr
    return done


def test_help_everywhere():
    for args in (
        [],
        ["optout"],
        ["optout", "ingest"],
        ["optout", "snapshot"],
        ["optout", "check"],
        ["optout", "diff"],
        ["optout", "agents"],
    ):
        assert "Usage:" in run(*args, "--help").stdout


@pytest.mark.slow
def test_ingest_snapshot_check_round_trip(tmp_path, signals):
    registry, snapshot = str(tmp_path / "r.duckdb"), str(tmp_path / "snap")
    report = json.loads(
        run("optout", "ingest", str(signals / "robots" / "2025-01-15"), "--registry", registry, "--json").stdout
    )
    assert report["outcomes"]["robots:unparsable"] == 1 and report["added"] == len(
        list((signals / "robots" / "2025-01-15").glob("*.txt"))
    )
    assert (
        json.loads(
            run("optout", "ingest", str(signals / "robots" / "2025-01-15"), "--registry", registry, "--json").stdout
        )["added"]
        == 0
    )
    run("optout", "ingest", str(signals / "rightsholders.csv"), "--registry", registry)
    manifest = json.loads(
        run("optout", "snapshot", "--registry", registry, "--as-of", "2025-01-31", "--out", snapshot, "--json").stdout
    )
    assert manifest["as_of"] == "2025-01-31" and len(manifest["snapshot_id"]) == 64

    done = run(
        "optout",
        "check",
        "--snapshot",
        snapshot,
        "--json",
        "https://gpt-blocked.example/a",
        "https://free.example/",
        ok=(RESERVED,),
    )
    blocked, free = (json.loads(line) for line in done.stdout.splitlines())
    assert blocked["allowed"] is False and free["allowed"] is True
    assert blocked["reservations"][0]["rule"]["text"] == "Disallow: /"
    assert blocked["reservations"][0]["agents"] == ["gptbot"]
    assert run("optout", "check", "--snapshot", snapshot, "https://free.example/").returncode == 0

    run("optout", "snapshot", "--registry", registry, "--as-of", "2025-01-14", "--out", str(tmp_path / "early"))
    changes = json.loads(run("optout", "diff", str(tmp_path / "early"), snapshot, "--json").stdout)
    assert {c["host"] for c in changes["reservations_added"]} >= {"gpt-blocked.example", "paths.example"}
    assert (
        "+ robots             host gpt-blocked.example"
        in run("optout", "diff", str(tmp_path / "early"), snapshot).stdout
    )

    # the same answer straight from the registry, compiled on the fly
    done = run(
        "optout",
        "check",
        "--registry",
        registry,
        "--as-of",
        "2025-01-31",
        "--json",
        "https://gpt-blocked.example/a",
        ok=(RESERVED,),
    )
    assert json.loads(done.stdout)["snapshot_id"] == manifest["snapshot_id"]


def test_check_one_robots_file(tmp_path):
    robots = tmp_path / "robots.txt"
    robots.write_text("User-agent: GPTBot\nDisallow: /private/\n")
    done = run(
        "optout",
        "check",
        "--robots",
        str(robots),
        "--agent",
        "GPTBot",
        "--url",
        "https://x.org/private/a",
        "--json",
        ok=(RESERVED,),
    )
    assert json.loads(done.stdout) == {
        "allowed": False,
        "agent": "GPTBot",
        "url": "https://x.org/private/a",
        "rule": {"line": 2, "text": "Disallow: /private/", "allow": False},
        "truncated": False,
    }
    done = run(
        "optout", "check", "--robots", str(robots), "--agent", "CCBot", "--url", "https://x.org/private/a", "--json"
    )
    assert json.loads(done.stdout)["allowed"] is True


@pytest.mark.parametrize(
    "args, message",
    [
        (["optout", "check", "https://x.org/"], "give --snapshot"),
        (["optout", "ingest", "--registry", "{tmp}/r.duckdb"], "give PATHS"),
        (
            ["optout", "snapshot", "--registry", "{tmp}/none.duckdb", "--as-of", "2025-01-31", "--out", "{tmp}/s"],
            "does not exist",
        ),
        (["optout", "check", "--snapshot", "{tmp}", "https://x.org/"], "no manifest.json"),
        (
            [
                "optout",
                "snapshot",
                "--registry",
                "{tmp}/r.csv",
                "--as-of",
                "2025-01-31",
                "--out",
                "{tmp}/s",
                "--agents",
                "no-such-list",
            ],
            "no-such-list",
        ),
        (["optout", "ingest", "--registry", "{tmp}/r.duckdb", "{tmp}/r.csv"], "missing columns"),
    ],
)
def test_bad_input_gets_a_clear_error(tmp_path, args, message):
    (tmp_path / "r.csv").write_text("domain\nexample.org\n")
    done = subprocess.run(
        [COMMAND, *(a.replace("{tmp}", str(tmp_path)) for a in args)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode not in (0, RESERVED)
    assert message in done.stderr


def test_snapshot_out_is_refused_when_not_empty_unless_force(tmp_path, signals):
    registry, out = str(tmp_path / "r.duckdb"), tmp_path / "snap"
    ingested = run("optout", "ingest", str(signals / "robots" / "2025-01-15"), "--registry", registry).stdout
    assert ingested.startswith(f"{len(list((signals / 'robots' / '2025-01-15').glob('*.txt')))} new observations (")
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    failed = run("optout", "snapshot", "--registry", registry, "--as-of", "2025-01-31", "--out", str(out), ok=(1,))
    assert f"{out}: the folder exists and is not empty; use --force" in failed.stderr
    assert [path.name for path in out.iterdir()] == ["keep.txt"]

    first = json.loads(
        run(
            "optout",
            "snapshot",
            "--registry",
            registry,
            "--as-of",
            "2025-01-31",
            "--out",
            str(out),
            "--force",
            "--json",
        ).stdout
    )
    assert not (out / "keep.txt").exists() and (out / "manifest.json").is_file()
    second = json.loads(
        run(
            "optout",
            "snapshot",
            "--registry",
            registry,
            "--as-of",
            "2025-01-14",
            "--out",
            str(out),
            "--force",
            "--json",
        ).stdout
    )
    assert second["snapshot_id"] != first["snapshot_id"]
    assert json.loads((out / "manifest.json").read_text())["snapshot_id"] == second["snapshot_id"]
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]  # no staging left beside it
