"""Suite-wide settings.

CI runs hypothesis derandomized (``HYPOTHESIS_PROFILE=ci``, set by .ci/run) so a landing never
depends on luck; local runs keep exploring new examples.

The session ends with ``os._exit(exit status)``, as the console script does (see
``apertus_compliance.cli.entry_point``): with pandas installed (mlcroissant brings it), pyarrow's
and pandas' native destructors abort the interpreter at exit now and then, after every test has
run and been reported. The exit code must be pytest's verdict, not that accident.
"""

import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

_EXIT_STATUS: dict[str, int] = {}


@pytest.fixture(autouse=True)
def _state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test keeps deletion-list rollback state in a fresh folder, never in the user's home
    (``APERTUS_STATE_DIR``, read by ``filters.refresh.default_state_dir``; subprocesses inherit it)."""
    monkeypatch.setenv("APERTUS_STATE_DIR", str(tmp_path_factory.mktemp("state")))


@pytest.fixture(scope="session")
def session_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache folder for the whole session: the Apertus tokenizer is built once (about 2 s)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def _cache_dir(session_cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Built files (``tokenizer: apertus``) go to the session's cache, never the user's
    (``APERTUS_CACHE_DIR``, read by ``pipeline.tokenizer.cache_dir``; subprocesses inherit it)."""
    monkeypatch.setenv("APERTUS_CACHE_DIR", str(session_cache_dir))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _EXIT_STATUS["code"] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if "code" in _EXIT_STATUS:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT_STATUS["code"])
