"""Opt-out registry benchmark: ingest rate, snapshot compile and load, batch lookup against protego.

    python bench/optout_bench.py [--hosts 100000] [--urls 300000] [--baseline-urls 30000]

Generates robots.txt files (``robots_corpus``: rules that differ per host as real files do), ingests
them into a registry and compiles a snapshot under a temporary folder and prints a
Markdown table (copied into BENCHMARKS.md). Lookups and the baseline each run in a fresh process
pinned to one core with Arrow limited to one thread, as a pipeline worker would: the worker loads
what it needs, then answers batches. The baseline is the approach of Apertus's pipeline: a
protego parser per host in an LRU cache and ``can_fetch`` for each agent of its list. It is timed
from an empty cache (as our first lookups after loading) and with every parser cached (its best
case), on a slice of the URLs because it is slow. Every figure is the best of three.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import resource
import sys
import tempfile
import time
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import robots_corpus  # noqa: E402

REPEATS = 3


def generate(folder: Path, hosts: int) -> list[str]:
    """robots.txt files that differ per host as real ones do (see robots_corpus)."""
    folder.mkdir(parents=True)
    names = []
    for name, content in robots_corpus.robots_files(hosts):
        (folder / f"{name}.txt").write_bytes(content)
        names.append(name)
    return names


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def resident_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def one_core() -> None:
    import pyarrow as pa

    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)


def format_1():
    """The previous snapshot format (parquet, loaded), kept as the tests' oracle: compared here."""
    import importlib.util

    path = Path(__file__).parents[1] / "tests" / "optout" / "snapshot_v1_reference.py"
    spec = importlib.util.spec_from_file_location("snapshot_v1_reference", path)
    module = sys.modules["snapshot_v1_reference"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def lookup_worker(snapshot_folder: Path, urls_file: Path, sample_size: int, loaded: bool = False) -> dict:
    """In a fresh process: open the snapshot, then time batch lookups (best of three)."""
    one_core()
    from apertus_compliance.optout.lookup import Snapshot

    if loaded:
        Snapshot = format_1().Snapshot  # noqa: N806

    urls = urls_file.read_text().split("\n")
    before = resident_bytes()
    snapshot, load_seconds = timed(Snapshot, snapshot_folder)
    memory = resident_bytes() - before
    fresh, repeat, answers = [], [], []
    for _ in range(REPEATS):
        fresh_snapshot = Snapshot(snapshot_folder)
        fresh.append(timed(fresh_snapshot.lookup, urls[:sample_size])[1])
        answers, seconds = timed(snapshot.lookup, urls)
        repeat.append(seconds)
    return {
        "load": load_seconds,
        "memory": memory,
        "fresh": min(fresh),
        "repeat": min(repeat),
        "reserved": sum(answer is not None for answer in answers),
    }


def baseline_worker(robots_folder: Path, urls_file: Path, sample_size: int, capacity: int) -> dict:
    """In a fresh process: protego per host in an LRU cache, can_fetch per agent (best of three)."""
    one_core()
    from protego import Protego

    from apertus_compliance.optout.agents import load_agent_list

    agents = [agent.name for agent in load_agent_list().agents]  # as Apertus's pipeline called can_fetch
    robots_text = {path.stem: path.read_text() for path in robots_folder.glob("*.txt")}
    sample = urls_file.read_text().split("\n")[:sample_size]
    empty, full = [], []
    for _ in range(REPEATS):
        parser_for = lru_cache(maxsize=capacity)(lambda host: Protego.parse(robots_text.get(host, "")))

        def reserved(batch: list[str], parser_for=parser_for) -> list[bool]:
            return [not all(parser_for(u.split("/")[2]).can_fetch(u, a) for a in agents) for u in batch]

        empty.append(timed(reserved, sample)[1])
        full.append(timed(reserved, sample)[1])
    return {"agents": len(agents), "empty": min(empty), "full": min(full)}


def in_fresh_process(function, *args) -> dict:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, args)


def main() -> None:
    from apertus_compliance.optout.agents import load_agent_list
    from apertus_compliance.optout.ingest import ingest_robots_dir
    from apertus_compliance.optout.registry import Registry
    from apertus_compliance.optout.snapshot import SnapshotOptions, compile_snapshot

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=100_000)
    parser.add_argument("--urls", type=int, default=300_000)
    parser.add_argument("--baseline-urls", type=int, default=30_000)
    args = parser.parse_args()
    rng = random.Random(7)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = root / "robots" / "2025-01-15"
        names = generate(folder, args.hosts)
        with Registry(root / "registry.duckdb") as registry:
            report, seconds = timed(ingest_robots_dir, registry, folder, datetime(2025, 1, 15))
            rows.append(
                (
                    "ingest robots.txt files",
                    f"{args.hosts / seconds:,.0f} files/s",
                    f"{args.hosts:,} files, {seconds:.1f} s, {report.added:,} observations",
                )
            )
            options = SnapshotOptions(date(2025, 1, 31), load_agent_list())
            manifest, seconds = timed(compile_snapshot, registry, options, root / "snapshot")
            old_seconds = timed(format_1().compile_snapshot, registry, options, root / "snapshot-v1")[1]
        counts = manifest["counts"]
        rows.append(
            (
                "compile snapshot",
                f"{seconds:.1f} s",
                f"{counts['reserving_hosts']:,} reserving hosts, {counts['rules']:,} rules",
            )
        )

        urls_file = root / "urls.txt"
        urls_file.write_text(
            "\n".join(
                robots_corpus.url_for(
                    rng, rng.choice(names) if rng.random() < 0.8 else f"unseen{rng.randrange(10**6)}.org"
                )
                for _ in range(args.urls)
            )
        )
        ours = in_fresh_process(lookup_worker, root / "snapshot", urls_file, args.baseline_urls)
        old = in_fresh_process(lookup_worker, root / "snapshot-v1", urls_file, args.baseline_urls, True)
        base = in_fresh_process(baseline_worker, folder, urls_file, args.baseline_urls, args.hosts)

    rate = args.urls / ours["repeat"]
    base_empty, base_full = args.baseline_urls / base["empty"], args.baseline_urls / base["full"]
    rows += [
        (
            "open snapshot",
            f"{ours['load'] * 1000:.1f} ms",
            f"{ours['memory'] / args.hosts:.1f} B resident per host right after opening ({args.hosts:,} hosts)",
        ),
        (
            "batch lookup",
            f"{rate:,.0f} URLs/s",
            f"{args.urls:,} URLs, 80% on snapshot hosts, {ours['reserved']:,} reserved; target >= 300,000",
        ),
        (
            "batch lookup, first batch after opening",
            f"{args.baseline_urls / ours['fresh']:,.0f} URLs/s",
            f"the first {args.baseline_urls:,} of those URLs",
        ),
        (
            "baseline: protego per host in an LRU cache, can_fetch per agent, empty cache",
            f"{base_empty:,.0f} URLs/s",
            f"{base['agents']} agents, the same {args.baseline_urls:,} URLs",
        ),
        ("baseline, every parser already cached", f"{base_full:,.0f} URLs/s", "can_fetch only"),
        ("format 1 (parquet, loaded): compile", f"{old_seconds:.1f} s", "the previous format, same registry"),
        (
            "format 1: load",
            f"{old['load'] * 1000:,.0f} ms",
            f"{old['memory'] / args.hosts:,.0f} B resident per host (every host planned while loading)",
        ),
        (
            "format 1: batch lookup",
            f"{args.urls / old['repeat']:,.0f} URLs/s",
            f"first batch after loading {args.baseline_urls / old['fresh']:,.0f} URLs/s; same URLs, "
            f"{old['reserved']:,} reserved",
        ),
        (
            "ratio, first batch after opening / baseline with empty cache",
            f"{base['empty'] / ours['fresh']:.1f}x",
            "same URLs, both starting cold; target >= 10x",
        ),
        (
            "ratio, batch lookup / baseline with every parser cached",
            f"{rate / base_full:.1f}x",
            "the baseline's best case; target >= 10x",
        ),
    ]
    print("| measure | result | notes |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of the main process: {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
