"""Opt-out registry benchmark: ingest rate, snapshot compile and load, batch lookup against protego.

    python bench/optout_bench.py [--hosts 100000] [--urls 300000]

Writes generated robots.txt files, a registry and a snapshot under a temporary folder and prints
a Markdown table (copied into BENCHMARKS.md). Lookups run pinned to one core, with Arrow limited
to one thread. The baseline is the approach of Apertus's pipeline: a protego parser per host in
an LRU cache and ``can_fetch`` per agent; it is timed with its cache already warm, so it pays no
parsing at all, and on a slice of the URLs because it is slow.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import tempfile
import time
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

import pyarrow as pa
from protego import Protego

from apertus_compliance.optout.agents import load_agent_list
from apertus_compliance.optout.ingest import ingest_robots_dir
from apertus_compliance.optout.lookup import Snapshot
from apertus_compliance.optout.registry import Registry
from apertus_compliance.optout.snapshot import SnapshotOptions, compile_snapshot

PADDING = "".join(f"Disallow: /cgi-bin/{i}/\n" for i in range(20)) + "Sitemap: https://{host}/sitemap.xml\n"
TEMPLATES = [  # (weight, robots.txt) roughly like the web: most files reserve nothing for AI agents
    (60, "User-agent: *\nDisallow: /admin/\nDisallow: /search\n" + PADDING),
    (10, "User-agent: *\nAllow: /\n"),
    (10, "User-agent: GPTBot\nDisallow: /\n\nUser-agent: *\nDisallow: /admin/\n" + PADDING),
    (4, "User-agent: *\nDisallow: /\n"),
    (4, "User-agent: CCBot\nUser-agent: ClaudeBot\nDisallow: /\n\nUser-agent: *\nDisallow: /tmp/\n"),
    (6, "User-agent: GPTBot\nDisallow: /private/\nDisallow: /*.pdf$\nAllow: /private/open/\n\n"
        "User-agent: *\nDisallow: /admin/\n" + PADDING),
    (3, "User-agent: *\nAllow: /\nContent-Usage: train-ai=n\nContent-Usage: /ai-ok/ train-ai=y\n"),
    (3, "User-agent: Google-Extended\nDisallow: /news/\n\nUser-agent: *\nDisallow:\n"),
]
PATHS = ["/", "/news/2019/story.html", "/private/x", "/private/open/y", "/doc.pdf", "/ai-ok/a", "/blog/post?id=7"]


def generate(folder: Path, hosts: int, rng: random.Random) -> list[str]:
    folder.mkdir(parents=True)
    weights = [w for w, _ in TEMPLATES]
    names = [f"h{i:06d}.site{i % 997}.example" for i in range(hosts)]
    for name in names:
        template = rng.choices(TEMPLATES, weights)[0][1]
        (folder / f"{name}.txt").write_text(template.replace("{host}", name) + f"# {rng.random()}\n")
    return names


def resident_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def main() -> None:
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
        names = generate(folder, args.hosts, rng)
        with Registry(root / "registry.duckdb") as registry:
            report, seconds = timed(ingest_robots_dir, registry, folder, datetime(2025, 1, 15))
            rows.append(("ingest robots.txt files", f"{args.hosts / seconds:,.0f} files/s",
                         f"{args.hosts:,} files, {seconds:.1f} s, {report.added:,} observations"))
            options = SnapshotOptions(date(2025, 1, 31), load_agent_list())
            manifest, seconds = timed(compile_snapshot, registry, options, root / "snapshot")
        rows.append(("compile snapshot", f"{seconds:.1f} s",
                     f"{manifest['counts']['reserving_hosts']:,} reserving hosts, {manifest['counts']['rules']:,} rules"))

        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        pa.set_cpu_count(1)
        pa.set_io_thread_count(1)
        before = resident_bytes()
        snapshot, load_seconds = timed(Snapshot, root / "snapshot")
        memory = resident_bytes() - before
        rows.append(("load snapshot", f"{load_seconds * 1000:.0f} ms",
                     f"{memory / args.hosts:.0f} B resident per host in the snapshot ({args.hosts:,} hosts)"))

        urls = [f"https://{rng.choice(names) if rng.random() < 0.8 else f'unseen{rng.randrange(10**6)}.org'}"
                f"{rng.choice(PATHS)}" for _ in range(args.urls)]
        agents = [agent.name for agent in load_agent_list().agents]  # as Apertus's pipeline called can_fetch
        robots_text = {name: (folder / f"{name}.txt").read_text() for name in names}

        def baseline_run(batch: list[str]) -> float:
            """Seconds for the baseline on ``batch``, twice: with an empty LRU cache, then with it full."""
            parser_for = lru_cache(maxsize=args.hosts)(lambda host: Protego.parse(robots_text.get(host, "")))

            def decide(batch: list[str]) -> list[bool]:
                return [not all(parser_for(u.split("/")[2]).can_fetch(u, a) for a in agents) for u in batch]

            return timed(decide, batch)[1], timed(decide, batch)[1]

        sample = urls[: args.baseline_urls]
        # Best of three for every figure; baseline and ours alternate so both see the same machine.
        ours_fresh, ours_repeat, base_fresh, base_repeat, answers = [], [], [], [], None
        for _ in range(3):
            fresh = Snapshot(root / "snapshot")
            ours_fresh.append(timed(fresh.lookup, sample)[1])
            answers, seconds = timed(fresh.lookup, urls)
            ours_repeat.append(seconds)
            cold, warm = baseline_run(sample)
            base_fresh.append(cold)
            base_repeat.append(warm)
        reserved = sum(a is not None for a in answers)
        ours_rate, base_cold, base_warm = args.urls / min(ours_repeat), len(sample) / min(base_fresh), len(sample) / min(base_repeat)
        rows.append(("batch lookup", f"{ours_rate:,.0f} URLs/s",
                     f"{args.urls:,} URLs (80% on snapshot hosts, {reserved:,} reserved); target >= 300,000"))
        rows.append(("batch lookup, fresh snapshot", f"{len(sample) / min(ours_fresh):,.0f} URLs/s",
                     f"first {len(sample):,} of those URLs, just after loading"))
        rows.append(("baseline: protego parser per host in an LRU cache, can_fetch per agent, empty cache",
                     f"{base_cold:,.0f} URLs/s", f"{len(agents)} agents, the same {len(sample):,} URLs"))
        rows.append(("baseline, every parser already cached", f"{base_warm:,.0f} URLs/s", "can_fetch only"))
        rows.append(("ratio, fresh snapshot / baseline with empty cache", f"{min(base_fresh) / min(ours_fresh):.1f}x",
                     "same URLs, both starting cold; target >= 10x"))
        rows.append(("ratio, batch lookup / baseline with every parser cached", f"{ours_rate / base_warm:.1f}x",
                     "the baseline's best case; target >= 10x"))

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"| measure | result | notes |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\npeak RSS of the whole run: {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
