"""``serve --model FOLDER`` loads from the folder and nothing else: no request to the hub, even with
HF_HUB_OFFLINE unset, and a folder that is not a checkpoint is named in the error."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="needs the serve extra (torch, transformers): pip install -e '.[serve]'")
pytest.importorskip("transformers", reason="needs the serve extra (torch, transformers): pip install -e '.[serve]'")

from apertus_compliance.serve.engine import Engine, EngineError, local_model_folder  # noqa: E402
from apertus_compliance.serve.random_model import write_random_checkpoint  # noqa: E402

pytestmark = pytest.mark.serve


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list:
    """Every connection attempt is recorded and refused, and the hub is not told to stay offline."""
    attempts: list = []

    def refuse(*arguments, **options):
        attempts.append(arguments)
        raise OSError("the test forbids network access")

    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_random_checkpoint(tmp_path_factory.mktemp("model") / "tiny")


def test_a_local_folder_loads_without_touching_the_network(checkpoint: Path, no_network: list) -> None:
    started = time.monotonic()
    engine = Engine.load(str(checkpoint))
    assert no_network == []
    assert time.monotonic() - started < 30  # no retries: the hub's back-off alone takes longer than a minute
    assert engine.text_prompt("hello")  # the tokenizer came with it


def test_a_relative_path_to_a_folder_is_a_folder(
    checkpoint: Path, no_network: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(checkpoint.parent)
    assert local_model_folder("tiny") == Path("tiny")
    Engine.load("tiny")
    assert no_network == []


def test_a_path_that_is_no_checkpoint_is_named(
    tmp_path: Path, no_network: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    (tmp_path / "weights.bin").write_bytes(b"")
    cases = {
        str(tmp_path / "empty"): "is not a model checkpoint \\(no config.json\\)",
        "weights.bin": "is a file; give the checkpoint's folder",
        str(tmp_path / "missing" / "model"): "no such folder",
        "./missing": "no such folder",
        "~/no-such-model-folder-here": "no such folder",
    }
    for model, message in cases.items():
        with pytest.raises(EngineError, match=message) as raised:
            Engine.load(model)
        assert model in str(raised.value)
    assert no_network == []


def test_a_hub_id_is_not_a_folder() -> None:
    assert local_model_folder("swiss-ai/Apertus-8B-Instruct-2509") is None
