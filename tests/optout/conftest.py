"""Small registries built from files the tests write themselves."""

from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from apertus_compliance.optout.agents import load_agent_list
from apertus_compliance.optout.ingest import ingest_rightsholder_list, ingest_robots_dir, ingest_tdmrep
from apertus_compliance.optout.lookup import Snapshot
from apertus_compliance.optout.registry import Registry
from apertus_compliance.optout.snapshot import SnapshotOptions, compile_snapshot

EARLY, LATE = "2024-07-01", "2025-01-15"

ROBOTS = {
    EARLY: {
        "gpt-blocked.example": "User-agent: GPTBot\nDisallow: /\n",
        "paths.example": "User-agent: *\nDisallow: /private/\nAllow: /private/open/\n",
        "free.example": "User-agent: *\nDisallow:\n",
        "changes.example": "User-agent: *\nAllow: /\n",
        "unblocks.example": "User-agent: CCBot\nDisallow: /\n",
        "apple.example": "User-agent: Applebot\nDisallow: /\n",
        "broken.example": "<!DOCTYPE html><html><body>Not found</body></html>",
    },
    LATE: {
        "gpt-blocked.example": "User-agent: GPTBot\nDisallow: /\n",
        "paths.example": "User-agent: *\nDisallow: /private/\nAllow: /private/open/\n",
        "free.example": "User-agent: *\nDisallow:\n",
        "changes.example": "User-agent: Google-Extended\nDisallow: /\n",
        "unblocks.example": "User-agent: *\nAllow: /\n",
        "apple.example": "User-agent: Applebot\nDisallow: /\n",
        "broken.example": "<!DOCTYPE html><html><body>Not found</body></html>",
        "aipref.example": "User-agent: *\nAllow: /\nContent-Usage: train-ai=n\nContent-Usage: /ai-ok/ train-ai=y\n",
        "blog.coarse.co.uk": "User-agent: ClaudeBot\nDisallow: /drafts/\n",
    },
}

TDMREP = {
    "tdm.example": '[{"location": "/books/*", "tdm-reservation": 1, "tdm-policy": "https://tdm.example/p"},\n'
    ' {"location": "/books/free/*", "tdm-reservation": 0}]',
}

RIGHTSHOLDERS = (
    "target,requested_at,requester\n"
    "verlag.example,2024-11-02,RH-0001\n"
    "https://news.example/archive/,2024-12-01,RH-0002\n"
    "late.example,2025-03-01,RH-0003\n"
    "nodate.example,,RH-0004\n"
)


def write_signals(root: Path) -> Path:
    for day, files in ROBOTS.items():
        folder = root / "robots" / day
        folder.mkdir(parents=True)
        for host, content in files.items():
            (folder / f"{host}.txt").write_text(content)
    (root / "tdmrep").mkdir()
    for host, content in TDMREP.items():
        (root / "tdmrep" / f"{host}.json").write_text(content)
    (root / "rightsholders.csv").write_text(RIGHTSHOLDERS)
    return root


def fill_registry(registry: Registry, signals: Path) -> list:
    reports = [ingest_robots_dir(registry, signals / "robots" / day) for day in ROBOTS]
    reports.append(ingest_tdmrep(registry, signals / "tdmrep", datetime(2025, 1, 10)))
    reports.append(ingest_rightsholder_list(registry, signals / "rightsholders.csv"))
    return reports


@pytest.fixture
def kit() -> SimpleNamespace:
    """The helpers above, for tests (test modules cannot import conftest)."""
    return SimpleNamespace(ROBOTS=ROBOTS, write_signals=write_signals, fill_registry=fill_registry)


@pytest.fixture
def signals(tmp_path: Path) -> Path:
    return write_signals(tmp_path / "signals")


@pytest.fixture
def registry(tmp_path: Path, signals: Path):
    with Registry(tmp_path / "registry.duckdb") as registry:
        fill_registry(registry, signals)
        yield registry


@pytest.fixture
def make_snapshot(tmp_path: Path, registry: Registry):
    """Compile a snapshot of the test registry: make_snapshot("2025-01-31", strict=True, ...)."""

    def make(
        as_of: str = "2025-01-31", agents: str = "apertus-2025-01", granularity: str = "url", strict: bool = False
    ) -> Snapshot:
        options = SnapshotOptions(date.fromisoformat(as_of), load_agent_list(agents), granularity, strict)
        out = tmp_path / f"snapshot-{as_of}-{granularity}-{strict}-{Path(agents).stem}"
        compile_snapshot(registry, options, out)
        return Snapshot(out)

    return make
