"""deletion-list and redact as a user runs them: the installed console script, real files."""

import json
import subprocess
import sys
from pathlib import Path

COMMAND = str(Path(sys.executable).parent / "apertus-compliance")


def run(*args: str, cwd: Path, ok: int = 0, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run([COMMAND, *args], capture_output=True, cwd=cwd, input=stdin, timeout=120)
    assert done.returncode == ok, (done.stdout + done.stderr).decode(errors="replace")
    return done


def test_keygen_build_verify_diff_redact(tmp_path):
    (tmp_path / "requests.csv").write_text("value,category,region\nHans Müller,name,\n"
                                           "anna.muster@beispiel.de,email,\n044 668 18 00,phone,CH\n")
    run("deletion-list", "keygen", "--out", "keys", cwd=tmp_path)
    assert "refusing to overwrite" in run("deletion-list", "keygen", "--out", "keys", cwd=tmp_path,
                                          ok=1).stderr.decode()
    for version in ("2026.05", "2026.11"):
        run("deletion-list", "build", "--input", "requests.csv", "--key", "keys/private.key", "--out", version,
            "--version", version, "--created", f"{version.replace('.', '-')}-01", cwd=tmp_path)
    assert "verified, version 2026.11" in run("deletion-list", "verify", "2026.11", "--public-key",
                                              "keys/public.key", cwd=tmp_path).stdout.decode()
    diff = json.loads(run("deletion-list", "diff", "2026.05", "2026.11", cwd=tmp_path).stdout)
    assert diff["list_version"] == ["2026.05", "2026.11"] and diff["entries"] == 0

    text = "Hans Mueller (Tel. +41 44 668 18 00) schrieb an anna.muster@beispiel.de und bob@example.org \xff\n"
    for extra in ([], ["--stream"]):
        done = run("redact", "--deletion-list", "2026.11", "--public-key", "keys/public.key", "--pattern", "email",
                   *extra, cwd=tmp_path, stdin=text.encode("latin-1"))
        assert done.stdout.decode() == "[REDACTED] (Tel. +[REDACTED]) schrieb an [REDACTED] und [REDACTED] \ufffd\n"
        assert json.loads(done.stderr) == {"redacted": {"email": 2, "name": 1, "phone": 1}}

    run("deletion-list", "keygen", "--out", "other", cwd=tmp_path)
    failed = run("deletion-list", "verify", "2026.11", "--public-key", "other/public.key", cwd=tmp_path, ok=1)
    assert "signature does not verify" in failed.stderr.decode()
    failed = run("redact", "--deletion-list", "2026.11", cwd=tmp_path, ok=2, stdin=b"x")
    assert "needs --public-key" in failed.stderr.decode()
    (tmp_path / "bad.csv").write_text("value,category\nHans,person\n")
    failed = run("deletion-list", "build", "--input", "bad.csv", "--key", "keys/private.key", "--out", "x",
                 cwd=tmp_path, ok=1)
    assert "bad.csv:2: category 'person' is not one of" in failed.stderr.decode()
