"""deletion-list and redact as a user runs them: the installed console script, real files."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

COMMAND = str(Path(sys.executable).parent / "apertus-compliance")


def run(*args: str, cwd: Path, ok: int = 0, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run([COMMAND, *args], capture_output=True, cwd=cwd, input=stdin, timeout=120)
    assert done.returncode == ok, (done.stdout + done.stderr).decode(errors="replace")
    return done


@pytest.mark.slow
def test_keygen_build_verify_diff_redact(tmp_path):
    (tmp_path / "requests.csv").write_text(
        "value,category,region\nHans Müller,name,\nanna.muster@beispiel.de,email,\n044 668 18 00,phone,CH\n"
    )
    run("deletion-list", "keygen", "--out", "keys", cwd=tmp_path)
    assert (
        "refusing to overwrite" in run("deletion-list", "keygen", "--out", "keys", cwd=tmp_path, ok=1).stderr.decode()
    )
    for version in ("2026.05", "2026.11"):
        run(
            "deletion-list",
            "build",
            "--input",
            "requests.csv",
            "--key",
            "keys/private.key",
            "--out",
            version,
            "--version",
            version,
            "--created",
            f"{version.replace('.', '-')}-01",
            cwd=tmp_path,
        )
    assert (
        "verified, version 2026.11"
        in run("deletion-list", "verify", "2026.11", "--public-key", "keys/public.key", cwd=tmp_path).stdout.decode()
    )
    diff = json.loads(run("deletion-list", "diff", "2026.05", "2026.11", cwd=tmp_path).stdout)
    assert diff["list_version"] == ["2026.05", "2026.11"] and diff["entries"] == 0

    text = "Hans Mueller (Tel. +41 44 668 18 00) schrieb an anna.muster@beispiel.de und bob@example.org \xff\n"
    for extra in ([], ["--stream"]):
        done = run(
            "redact",
            "--deletion-list",
            "2026.11",
            "--public-key",
            "keys/public.key",
            "--pattern",
            "email",
            *extra,
            cwd=tmp_path,
            stdin=text.encode("latin-1"),
        )
        assert done.stdout.decode() == "[REDACTED] (Tel. +[REDACTED]) schrieb an [REDACTED] und [REDACTED] \ufffd\n"
        assert json.loads(done.stderr) == {"redacted": {"email": 2, "name": 1, "phone": 1}}

    run("deletion-list", "keygen", "--out", "other", cwd=tmp_path)
    failed = run("deletion-list", "verify", "2026.11", "--public-key", "other/public.key", cwd=tmp_path, ok=1)
    assert "signature does not verify" in failed.stderr.decode()
    failed = run("redact", "--deletion-list", "2026.11", cwd=tmp_path, ok=2, stdin=b"x")
    assert "needs --public-key" in failed.stderr.decode()
    (tmp_path / "bad.csv").write_text("value,category\nHans,person\n")
    failed = run(
        "deletion-list", "build", "--input", "bad.csv", "--key", "keys/private.key", "--out", "x", cwd=tmp_path, ok=1
    )
    assert "bad.csv:2: category 'person' is not one of" in failed.stderr.decode()


@pytest.mark.slow
def test_verify_prints_the_first_failing_check(tmp_path):
    from cryptography.hazmat.primitives import serialization

    (tmp_path / "requests.csv").write_text("value,category\nHans Müller,name\n")
    run("deletion-list", "keygen", "--out", "keys", cwd=tmp_path)
    run(
        "deletion-list",
        "build",
        "--input",
        "requests.csv",
        "--key",
        "keys/private.key",
        "--out",
        "release",
        "--version",
        "2026.11",
        "--created",
        "2026-11-01",
        cwd=tmp_path,
    )
    assert (
        "self-test: canary redacted"
        in run("deletion-list", "verify", "release", "--public-key", "keys/public.key", cwd=tmp_path).stdout.decode()
    )

    manifest = json.loads((tmp_path / "release" / "manifest.json").read_text())
    manifest["created"] = "2026-11-01T00:00:00"  # no time zone; signed again by the publisher
    manifest["max_tokens"] = 0  # also wrong: only the first failure is printed
    signer = serialization.load_pem_private_key((tmp_path / "keys" / "private.key").read_bytes(), password=None)
    unsigned = {key: value for key, value in manifest.items() if key != "signature"}
    manifest["signature"] = signer.sign(json.dumps(unsigned, sort_keys=True, separators=(",", ":")).encode()).hex()
    (tmp_path / "release" / "manifest.json").write_text(json.dumps(manifest))
    failed = run("deletion-list", "verify", "release", "--public-key", "keys/public.key", cwd=tmp_path, ok=1)
    error = failed.stderr.decode()
    assert "release/manifest.json: field 'created'" in error and "time zone" in error and "max_tokens" not in error
    assert failed.stdout == b""


def test_build_refuses_an_entry_too_long_to_redact(tmp_path):
    words = " ".join(f"w{index}" for index in range(1000))
    (tmp_path / "requests.csv").write_text(f'value,category\nHans Müller,name\n"{words}",other\n')
    run("deletion-list", "keygen", "--out", "keys", cwd=tmp_path)
    failed = run(
        "deletion-list",
        "build",
        "--input",
        "requests.csv",
        "--key",
        "keys/private.key",
        "--out",
        "out",
        cwd=tmp_path,
        ok=1,
    )
    assert "requests.csv:3: other entry of 1000 tokens; a release allows at most 32" in failed.stderr.decode()
    assert not (tmp_path / "out").exists()
