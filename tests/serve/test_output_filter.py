"""OutputFilter's self-test: a loaded list counts only once a redaction through it has worked, so
``/healthz`` says 200 only when completions can be filtered (not 200 and then a 500 per request)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import httpx
import openai
import pytest

from apertus_compliance.filters.redactor import Redactor
from apertus_compliance.filters.refresh import ListUnavailable, RefreshingDeletionList
from apertus_compliance.serve.output_filter import OutputFilter


def build_app(*arguments, **options):
    """``serve.api.build_app``, imported on use: it imports torch, and the tests without the engine run without
    the serve extra."""
    from apertus_compliance.serve.api import build_app

    return build_app(*arguments, **options)


def _broken_redact(self, text):
    raise RuntimeError("anonymizer broken")


def _resigned_with_another_hash_key(source: Path, private_key: Path, out: Path) -> Path:
    """The release as published, but its manifest names another hash key, signed by the publisher."""
    from cryptography.hazmat.primitives import serialization

    shutil.copytree(source, out)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    key = bytes(range(32))
    manifest["hash"] = {**manifest["hash"], "key": key.hex(), "key_id": hashlib.sha256(key).hexdigest()[:16]}
    signer = serialization.load_pem_private_key(private_key.read_bytes(), password=None)
    unsigned = {name: value for name, value in manifest.items() if name != "signature"}
    manifest["signature"] = signer.sign(json.dumps(unsigned, sort_keys=True, separators=(",", ":")).encode()).hex()
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return out


def test_start_runs_the_self_test_once_per_list(list_filter, monkeypatch):
    output_filter = list_filter("v1")
    built = []
    original = Redactor.__init__

    def counting(self, *args, **options):
        built.append(args)
        original(self, *args, **options)

    monkeypatch.setattr(Redactor, "__init__", counting)
    output_filter.start()
    try:
        assert output_filter.status()["self_test"] == "passed"
        before = len(built)
        for _ in range(5):
            assert output_filter.available() is True
            assert output_filter.redactor() is not None
        assert len(built) == before  # health and requests reuse the tested redactor
    finally:
        output_filter.stop()


@pytest.mark.parametrize("strict", [True, False])
def test_a_list_whose_self_test_fails_counts_as_no_list(list_filter, monkeypatch, strict):
    output_filter = list_filter("v1", strict=strict)
    assert output_filter.refresher.refresh() is True  # the refresher's own self-test passed
    monkeypatch.setattr(Redactor, "redact", _broken_redact)  # then the redactor the filter builds breaks

    assert output_filter.available() is (not strict)
    status = output_filter.status()
    assert status["version"] == "2026-11-v1"
    assert status["self_test"].startswith("failed") and "anonymizer broken" in status["self_test"]
    if strict:
        with pytest.raises(ListUnavailable, match="self-test"):
            output_filter.redactor()
    else:
        assert output_filter.redactor() is None


def test_without_a_list_the_status_has_no_self_test(list_filter):
    output_filter = list_filter(None)
    output_filter.refresher.refresh()
    assert output_filter.available() is False and output_filter.status()["self_test"] is None


@pytest.mark.slow
@pytest.mark.serve
def test_healthz_is_503_for_a_release_whose_self_test_fails(make_engine, serve_app, releases, tmp_path, words):
    folder = _resigned_with_another_hash_key(releases["v1"], releases["private_key"], tmp_path / "published")
    output_filter = OutputFilter(RefreshingDeletionList(folder, releases["public_key"], strict=True), strict=True)
    base = serve_app(build_app(make_engine(force=words["SAID"]), output_filter))

    health = httpx.get(f"{base}/healthz", timeout=60)
    assert health.status_code == 503
    assert health.json()["deletion_list"]["version"] is None
    assert "'self_test'" in health.json()["deletion_list"]["last_error"]
    api = openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0, timeout=60)
    with pytest.raises(openai.APIStatusError) as refused:  # 503 as the health says, not a 500
        api.chat.completions.create(model="tiny-apertus", messages=[{"role": "user", "content": "hi"}])
    assert refused.value.status_code == 503


@pytest.mark.slow
@pytest.mark.serve
def test_healthz_is_200_with_a_working_list(make_engine, list_filter, serve_app, words):
    base = serve_app(build_app(make_engine(force=words["SAID"]), list_filter("v1")))
    health = httpx.get(f"{base}/healthz", timeout=60)
    assert health.status_code == 200 and health.json()["deletion_list"]["self_test"] == "passed"
