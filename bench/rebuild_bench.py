"""Documents/s of the full compliance rebuild against a bare datatrove read -> write, same input,
same run, same machine. Target (issue 3): ratio at least 0.85 on 1 KB documents.

The input is synthetic web text of ~1 KB per document on the bundled sample's hosts (so the
opt-out filter removes its realistic share), with PII in 5% of documents. Both sides read the
same parquet files with the same number of tasks and write zstd parquet; the full side is
``rebuild()`` (reader, token counter, validator, opt-out, PII masker, sample key, writer, budget,
lock with sha256 of every shard). Runs alternate and the best of each is kept. A second baseline, the rebuild's own reader and
writer with nothing between them, isolates the cost of the compliance steps (datatrove's default
writer stores a nested metadata column, which is slower than the rebuild's fixed schema).

    python bench/rebuild_bench.py [--documents 40000] [--repeats 3] [--workers 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from loguru import logger

from apertus_compliance.optout import Registry, SnapshotOptions, compile_snapshot, load_agent_list
from apertus_compliance.optout.ingest import ingest_bundled_sample
from apertus_compliance.paths import bundled_data
from apertus_compliance.pipeline.rebuild import rebuild
from apertus_compliance.pipeline.recipe import load_recipe
from apertus_compliance.pipeline.steps import QUIET_ENV

WORDS = (
    "the of and to in is was for on that with as by at from his an were are which this be has or had "
    "river mountain village market school library bridge garden winter summer story council museum"
).split()
PII = ("write to anna.muster@beispiel.de", "server 81.12.34.56 answered", "IBAN DE89 3704 0044 0532 0130 00")


def write_recipe(root: Path, name: str, source_id: str, target_tokens: int = 10**15) -> Path:
    """The bundled signals' snapshot as of 2025-01-31 and a one-source recipe over ``root/sources/*.parquet``."""
    with Registry(root / "registry.duckdb") as registry:
        ingest_bundled_sample(registry)
        compile_snapshot(
            registry, SnapshotOptions(date(2025, 1, 31), load_agent_list("apertus-2025-01")), root / "snapshot"
        )
    recipe = root / "recipe.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "name": name,
                "seed": 1,
                "optout": {"snapshot": str(root / "snapshot")},
                "sources": [
                    {
                        "id": source_id,
                        "location": "sources/*.parquet",
                        "format": "parquet",
                        "target_tokens": target_tokens,
                    }
                ],
            }
        )
    )
    return recipe


def write_input(folder: Path, documents: int, files: int) -> int:
    rng = random.Random(1)
    hosts = (bundled_data() / "sample" / "signals" / "hosts.txt").read_text().split()
    rows = []
    for number in range(documents):
        words = []
        while sum(len(word) + 1 for word in words) < 1000:
            words.append(rng.choice(WORDS))
        if number % 20 == 0:
            words.insert(len(words) // 2, rng.choice(PII))
        rows.append(
            {
                "text": " ".join(words),
                "id": f"doc-{number:07d}",
                "url": f"https://{rng.choice(hosts)}/{rng.choice([2013, 2018, 2024])}/{number}.html",
                "date": "2018-05-01T00:00:00Z",
                "language": "en",
            }
        )
    folder.mkdir(parents=True)
    for part in range(files):
        pq.write_table(pa.Table.from_pylist(rows[part::files]), folder / f"part-{part:02d}.parquet")
    return sum(len(row["text"].encode()) for row in rows) // documents


def bare(sources: Path, out: Path, tasks: int, workers: int) -> float:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.pipeline.writers import ParquetWriter

    started = time.perf_counter()
    LocalPipelineExecutor(
        [ParquetReader(str(sources)), ParquetWriter(str(out / "data"), compression="zstd")],
        tasks=tasks,
        workers=workers,
        logging_dir=str(out / "logs"),
    ).run()
    return time.perf_counter() - started


def same_io(sources: Path, out: Path, tasks: int, workers: int) -> float:
    """The rebuild's own reader and writer with nothing in between: isolates the compliance steps."""
    from datatrove.executor import LocalPipelineExecutor

    from apertus_compliance.pipeline.recipe import Fields
    from apertus_compliance.pipeline.steps import SourceReader, mixture_writer

    files = sorted(path.name for path in sources.glob("*.parquet"))
    started = time.perf_counter()
    LocalPipelineExecutor(
        [SourceReader(str(sources), files, "web", "parquet", Fields()), mixture_writer(out / "data")],
        tasks=tasks,
        workers=workers,
        logging_dir=str(out / "logs"),
    ).run()
    return time.perf_counter() - started


def full(recipe: Path, out: Path, workers: int) -> float:
    started = time.perf_counter()
    rebuild(load_recipe(recipe), out, workers=workers, echo=lambda message: None)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=40_000)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    os.environ[QUIET_ENV] = "1"
    logger.disable("datatrove")

    with tempfile.TemporaryDirectory(prefix="rebuild-bench-") as scratch:
        root = Path(scratch)
        size = write_input(root / "sources", args.documents, args.files)
        recipe = write_recipe(root, "bench", "web")
        bare_times, io_times, full_times = [], [], []
        for repeat in range(args.repeats):
            bare_times.append(bare(root / "sources", root / f"bare-{repeat}", args.files, args.workers))
            io_times.append(same_io(root / "sources", root / f"io-{repeat}", args.files, args.workers))
            full_times.append(full(recipe, root / f"full-{repeat}", args.workers))
            for name in ("bare", "io", "full"):
                shutil.rmtree(root / f"{name}-{repeat}")
        bare_rate, full_rate = args.documents / min(bare_times), args.documents / min(full_times)
        io_rate = args.documents / min(io_times)
        print(
            f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}"
        )
        print(
            f"input: {args.documents:,} documents of ~{size} bytes in {args.files} parquet files, "
            f"{args.workers} worker(s), best of {args.repeats}"
        )
        print(f"bare datatrove read -> write: {bare_rate:,.0f} docs/s")
        print(f"rebuild reader -> writer:     {io_rate:,.0f} docs/s (same I/O as the rebuild, no steps)")
        print(f"full compliance rebuild:      {full_rate:,.0f} docs/s")
        print(f"ratio full / bare: {full_rate / bare_rate:.2f} (target >= 0.85)")
        print(f"ratio full / same I/O: {full_rate / io_rate:.2f} (the compliance steps alone)")


if __name__ == "__main__":
    main()
