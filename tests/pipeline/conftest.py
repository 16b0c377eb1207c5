"""Rebuild fixtures: the bundled snapshot compiled once, recipes written on the fly, and one
run of the bundled sample recipe shared by the tests that only read its outputs."""

import json
import os
import random
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from loguru import logger

from apertus_compliance.optout import Registry, SnapshotOptions, compile_snapshot, load_agent_list
from apertus_compliance.optout.ingest import ingest_bundled_sample
from apertus_compliance.paths import bundled_data
from apertus_compliance.pipeline.rebuild import rebuild
from apertus_compliance.pipeline.recipe import bundled_recipe, load_recipe
from apertus_compliance.pipeline.steps import QUIET_ENV

os.environ[QUIET_ENV] = "1"  # datatrove's per-task INFO logs would drown pytest's failure reports
logger.disable("datatrove")

SAMPLE_HOSTS = (bundled_data() / "sample" / "signals" / "hosts.txt").read_text().split()


@pytest.fixture(scope="session")
def bundled_snapshot(tmp_path_factory) -> Path:
    """The bundled signals as of 2025-01-31, compiled once per session."""
    root = tmp_path_factory.mktemp("snapshot")
    with Registry(root / "registry.duckdb") as registry:
        ingest_bundled_sample(registry)
    options = SnapshotOptions(as_of=date(2025, 1, 31), agent_list=load_agent_list("apertus-2025-01"))
    with Registry(root / "registry.duckdb", read_only=True) as registry:
        compile_snapshot(registry, options, root / "snapshot")
    return root / "snapshot"


def web_rows(count: int, seed: int = 0, prefix: str = "doc") -> list[dict]:
    """Documents on the bundled sample's hosts, old and new crawls, a few hundred bytes each."""
    rng = random.Random(seed)
    words = "river mountain village market school library bridge garden winter summer story".split()
    rows = []
    for number in range(count):
        host = rng.choice(SAMPLE_HOSTS)
        year = rng.choice([2013, 2016, 2019, 2023])
        text = " ".join(rng.choice(words) for _ in range(rng.randint(20, 120)))
        rows.append(
            {
                "text": text,
                "id": f"{prefix}-{number:05d}",
                "url": f"https://{host}/{year}/{number}.html",
                "date": f"{year}-05-01T00:00:00Z",
                "language": "en",
            }
        )
    return rows


@pytest.fixture
def kit(tmp_path, bundled_snapshot):
    """Helpers to write sources and recipes under ``tmp_path`` and run them."""

    def write_parquet(name: str, rows: list[dict], schema: pa.Schema | None = None) -> Path:
        path = tmp_path / "sources" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
        return path

    def write_recipe(sources: list[dict], name: str = "recipe.yaml", **top) -> Path:
        recipe = {"name": "test", "seed": 7, "optout": {"snapshot": str(bundled_snapshot)}, "sources": sources} | top
        path = tmp_path / name
        path.write_text(yaml.safe_dump(recipe, sort_keys=False))
        return path

    def run(recipe: Path, out: str = "run", workers: int = 1) -> dict:
        return rebuild(load_recipe(recipe), tmp_path / out, workers=workers, echo=lambda message: None)

    return SimpleNamespace(
        root=tmp_path,
        write_parquet=write_parquet,
        write_recipe=write_recipe,
        run=run,
        web_rows=web_rows,
        planted_filter=lambda action, victim: planted_filter(tmp_path, action, victim),
    )


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory):
    """The bundled sample recipe, run once with one worker."""
    run_dir = tmp_path_factory.mktemp("sample") / "run"
    lock = rebuild(load_recipe(bundled_recipe("sample")), run_dir, workers=1, echo=lambda message: None)
    return SimpleNamespace(
        dir=run_dir,
        lock=lock,
        planted=json.loads((bundled_data() / "sample" / "sources" / "planted_pii.json").read_text()),
    )


def shard_hashes(run_dir: Path) -> dict[str, str]:
    """sha256 of every mixture and removed shard, by path relative to the run."""
    import hashlib

    return {
        path.relative_to(run_dir).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for folder in ("mixture", "removed")
        for path in sorted((run_dir / folder).glob("**/*.parquet"))
    }


@pytest.fixture
def hashes():
    return shard_hashes


PLANTED = '''
"""A recipe filter that, at document ``victim``, once (``marker`` says it happened), raises or
SIGKILLs its own worker process (``action``)."""
import os
import signal
from pathlib import Path

from datatrove.pipeline.filters.base_filter import BaseFilter


class PlantedOnce(BaseFilter):
    name = "planted-once"

    def __init__(self, marker: str, victim: str, action: str, exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.marker, self.victim, self.action = marker, victim, action

    def filter(self, doc):
        if doc.id == self.victim and not Path(self.marker).exists():
            Path(self.marker).touch()
            if self.action == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError(f"planted failure at {doc.id}")
        return True
'''


def planted_filter(folder: Path, action: str, victim: str) -> tuple[dict, Path]:
    """A recipe filter entry that raises (``action="raise"``) or kills its worker (``"kill"``) at
    document ``victim``, once; its module is written to ``folder/plugins`` (put that on the
    path, for spawned workers too). Returns the entry and the marker file that says it happened."""
    plugins = folder / "plugins"
    plugins.mkdir(exist_ok=True)
    (plugins / "planted.py").write_text(PLANTED)
    marker = folder / f"{action}.marker"
    args = {"marker": str(marker), "victim": victim, "action": action}
    return {"id": f"{action}-once", "step": "planted.PlantedOnce", "args": args}, marker


@pytest.fixture
def start_ray():
    """``start_ray(plugins=None)``: a local Ray session of 2 CPUs for this test (``plugins`` on its
    workers' path), shut down after the test if the test has not."""
    ray = pytest.importorskip("ray", reason="needs the scale extra (ray): pip install -e '.[scale]'")

    def start(plugins: Path | None = None):
        env = {QUIET_ENV: "1"} | ({"PYTHONPATH": str(plugins)} if plugins else {})
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            object_store_memory=256 * 1024 * 1024,
            log_to_driver=False,
            runtime_env={"env_vars": env},
        )
        return ray

    yield start
    if ray.is_initialized():
        ray.shutdown()
