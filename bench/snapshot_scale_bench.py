"""Opt-out snapshots at web scale: compile, open, private memory per worker and lookups at N hosts.

    python bench/snapshot_scale_bench.py [--hosts 100000 10000000] [--urls 300000] [--workdir DIR]
    python bench/snapshot_scale_bench.py --hosts N --snapshot DIR   # lookups only, on a kept snapshot
    python bench/snapshot_scale_bench.py --hosts 10000000 --keep DIR  # keeps DIR/snapshot-10000000/snapshot

For each size: a registry of N generated robots.txt observations (``robots_corpus``: rules that
differ per host the way real files do, a minority of CMS defaults), written straight into the
registry's tables; the real ``compile_snapshot`` (timed in a fresh process, with its peak
memory); then fresh worker processes, each pinned to one core with Arrow on one thread, that
open the snapshot and answer batches: one alone, then two at once (the two cores of the standard
machine), measured with ``/proc/self/smaps_rollup``: ``Anonymous`` is a worker's private memory
(not file-backed, not shared), ``Rss`` minus it the mapped snapshot pages, which the page cache
shares between workers. URLs: 80% on snapshot hosts drawn uniformly (at 10M hosts nearly every
URL is a host the worker has not seen: the first pass pays for finding and decoding each host),
20% on hosts the snapshot does not name; the second pass answers the same URLs again (hosts
planned). Prints a Markdown table for BENCHMARKS.md. ``--keep DIR`` writes each size into
``DIR/snapshot-N`` and keeps the compiled snapshot there (``DIR/snapshot-N/snapshot``; the registry
is deleted), for ``--snapshot`` here and ``scale_bench.py --mixture --snapshot``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import robots_corpus  # noqa: E402


def smaps() -> dict[str, int]:
    """Bytes per field of /proc/self/smaps_rollup (Rss, Anonymous, Private_Clean...)."""
    fields = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        fields[name] = int(value.split()[0]) * 1024
    return fields


def one_core(core: int) -> None:
    import pyarrow as pa

    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cores[core % len(cores)]})
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)


def compile_worker(registry_path: Path, out: Path, workers: int = 1) -> dict:
    from apertus_compliance.optout.agents import load_agent_list
    from apertus_compliance.optout.registry import Registry
    from apertus_compliance.optout.snapshot import SnapshotOptions, compile_snapshot

    start = time.perf_counter()
    with Registry(registry_path, read_only=True) as registry:
        manifest = compile_snapshot(registry, SnapshotOptions(date(2025, 1, 31), load_agent_list()), out, workers)
    return {
        "seconds": time.perf_counter() - start,
        "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "counts": manifest["counts"],
        "bytes": sum(item["bytes"] for item in manifest["files"].values()),
    }


def lookup_worker(snapshot_folder: Path, urls_file: Path, core: int) -> dict:
    """In a fresh process on one core: open, then answer the URLs twice (every host new, then planned)."""
    one_core(core)
    import pyarrow as pa

    from apertus_compliance.optout.lookup import Snapshot

    urls = pa.array(urls_file.read_text().split("\n"), pa.string())
    before = smaps()
    start = time.perf_counter()
    snapshot = Snapshot(snapshot_folder)
    open_seconds = time.perf_counter() - start
    opened = smaps()
    start = time.perf_counter()
    answers = snapshot.lookup(urls)
    first = time.perf_counter() - start
    start = time.perf_counter()
    snapshot.lookup(urls)
    second = time.perf_counter() - start
    after = smaps()
    evidence = next(answer for answer in answers if answer is not None).as_dict()
    return {
        "open": open_seconds,
        "private_open": opened["Anonymous"] - before["Anonymous"],
        "private_after": after["Anonymous"] - before["Anonymous"],
        "mapped_after": (after["Rss"] - after["Anonymous"]) - (before["Rss"] - before["Anonymous"]),
        "first": first,
        "second": second,
        "reserved": sum(answer is not None for answer in answers),
        "evidence": evidence["rule"]["text"],
    }


def in_fresh_process(function, *args) -> dict:
    """``function(*args)`` in a fresh process, which may start processes of its own (the compile's)."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def two_workers(snapshot_folder: Path, urls_file: Path) -> list[dict]:
    """Two workers at once, as on a node: each maps the same files."""
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        return pool.starmap(lookup_worker, [(snapshot_folder, urls_file, core) for core in (0, 1)])


def run(root: Path, hosts: int, url_count: int, compile_workers: int = 1) -> list[tuple[str, str, str]]:
    registry_path = root / "registry.duckdb"
    start = time.perf_counter()
    robots_corpus.write_registry(registry_path, hosts, datetime(2025, 1, 15))
    written = time.perf_counter() - start
    compiled = in_fresh_process(compile_worker, registry_path, root / "snapshot", compile_workers)
    registry_path.unlink()
    counts = compiled["counts"]
    size = f"{hosts:,} hosts"
    return [
        (size, "generate the registry (direct writer)", f"{written:.0f} s"),
        (
            size,
            f"compile snapshot ({compile_workers} parsing process{'es' if compile_workers > 1 else ''})",
            f"{compiled['seconds']:.0f} s ({hosts / compiled['seconds']:,.0f} hosts/s), peak {compiled['peak'] / 2**20:,.0f} MiB;"
            f" {counts['rules']:,} rules, {counts['rule_sets']:,} distinct rule sets, "
            f"{counts['reserving_hosts']:,} reserving hosts, {compiled['bytes'] / 2**30:.2f} GiB on disk",
        ),
    ] + measure_lookups(root / "snapshot", hosts, url_count)


def measure_lookups(snapshot: Path, hosts: int, url_count: int) -> list[tuple[str, str, str]]:
    """Two fresh workers open ``snapshot`` (of ``hosts`` generated hosts) and answer the URLs twice."""
    root = Path(tempfile.mkdtemp(prefix="urls-"))
    rng = random.Random(11)
    urls_file = root / "urls.txt"
    urls_file.write_text(
        "\n".join(
            robots_corpus.url_for(rng, robots_corpus.host_name(rng.randrange(hosts)))
            if rng.random() < 0.8
            else f"https://unseen{rng.randrange(10**9)}.org/page"
            for _ in range(url_count)
        )
    )
    alone = in_fresh_process(lookup_worker, snapshot, urls_file, 0)
    workers = two_workers(snapshot, urls_file)
    shutil.rmtree(root)
    size = f"{hosts:,} hosts"
    both = (
        f"{url_count / max(w['first'] for w in workers):,.0f} and {url_count / max(w['second'] for w in workers):,.0f}"
    )
    return [
        (
            size,
            "open snapshot",
            f"{max(w['open'] for w in workers + [alone]) * 1000:.1f} ms (slowest of three workers)",
        ),
        (
            size,
            "private memory per host per worker",
            f"{max(w['private_after'] for w in workers) / hosts:.1f} B after opening and two passes "
            f"({max(w['private_open'] for w in workers) / 2**20:.1f} MiB after opening, "
            f"{max(w['private_after'] for w in workers) / 2**20:.0f} MiB after the lookups; "
            f"{min(w['mapped_after'] for w in workers) / 2**20:,.0f} MiB of mapped snapshot pages, shared)",
        ),
        (
            size,
            "batch lookup, one worker, every host new to it",
            f"{url_count / alone['first']:,.0f} URLs/s ({url_count:,} URLs, {alone['reserved']:,} reserved)",
        ),
        (size, "batch lookup, one worker, hosts already planned", f"{url_count / alone['second']:,.0f} URLs/s"),
        (size, "the same, two workers at once (each)", f"{both} URLs/s (new hosts, planned; slower of the two)"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[100_000, 10_000_000])
    parser.add_argument("--urls", type=int, default=300_000)
    parser.add_argument(
        "--compile-workers", type=int, default=1, help="processes that parse while one writes (compile_snapshot)"
    )
    parser.add_argument("--workdir", type=Path, default=None, help="where to write (default: a temporary folder)")
    parser.add_argument(
        "--keep",
        type=Path,
        help="write each size into KEEP/snapshot-N and keep its snapshot (KEEP/snapshot-N/snapshot; the "
        "registry is deleted) instead of deleting everything; instead of --workdir",
    )
    parser.add_argument(
        "--snapshot",
        type=Path,
        help="measure lookups only, on this snapshot of --hosts generated hosts (kept from a run)",
    )
    args = parser.parse_args()
    if args.snapshot:
        print("\n".join(f"| {' | '.join(row)} |" for row in measure_lookups(args.snapshot, args.hosts[0], args.urls)))
        return
    if args.keep and args.workdir:
        parser.error("--keep and --workdir: give one (--keep writes into KEEP/snapshot-N)")
    rows = []
    for hosts in args.hosts:
        if args.keep:
            root = args.keep / f"snapshot-{hosts}"
            if root.exists() and any(root.iterdir()):
                parser.error(f"--keep: {root} exists and is not empty")
            root.mkdir(parents=True, exist_ok=True)
        else:
            root = Path(tempfile.mkdtemp(prefix=f"snapshot-{hosts}-", dir=args.workdir))
        try:
            rows += run(root, hosts, args.urls, args.compile_workers)
        finally:
            if args.keep:
                (root / "registry.duckdb").unlink(missing_ok=True)  # run deletes it once compiled; not on failure
            else:
                shutil.rmtree(root)
        if args.keep:
            print(f"kept: {root / 'snapshot'} ({hosts:,} hosts)", flush=True)
        print("\n".join(f"| {' | '.join(row)} |" for row in rows[-7:]), flush=True)  # as each size ends
    print("\n| size | measure | result |\n|---|---|---|")
    for row in rows:
        print(f"| {' | '.join(row)} |")


if __name__ == "__main__":
    main()
