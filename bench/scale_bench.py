"""How the rebuild scales: Ray with 2 workers against 1, the local executor beside it, and the
per-core cost of every filter-stage step (the inputs of the scale model in BENCHMARKS.md).
Target (issue): on this input, Ray with 2 workers reaches at least 1.7x the documents/s of 1 worker.

The input is ``rebuild_bench``'s: synthetic web text of ~1 KB per document on the bundled sample's
hosts (the opt-out filter removes its realistic share), PII in 5% of documents, here in 8 parquet
files, so each rebuild runs 8 equal filter tasks. The budget does not bind (only the filter stage
runs, then the lock). One Ray cluster (2 CPUs) is started for the whole bench, as a long-lived
cluster would be; each rebuild gets a fresh run directory. Ray w=1, Ray w=2, local w=1 and local
w=2 run in turn within each repeat, the order reversed every other repeat (ABBA); medians with
the range. The mixture shards of every run are hashed: all runs must give the same bytes.

The stage profile runs each step of the filter pipeline alone, in this process, on documents
held in memory (the reader on its files, each later step on the previous step's output), so
each step's time per document is its cost on one core without datatrove's task machinery.
With ``--tokenizer`` it also trains a byte-level BPE tokenizer (vocabulary up to 131,072) on
docstrings of the standard library and the installed packages, and times ``Tokenizer.encode`` per
document (as ``TokenCounter`` calls it) and ``encode_batch_fast`` on one thread, on held-out
docstrings and on the bundled sample's web text: the token counter's cost with a real tokenizer
instead of the fallback ``ceil(bytes / 4)``. The filter stage's time per run is measured around
``run_stage`` (patched in this process only).

    python bench/scale_bench.py [--documents 320000] [--files 8] [--repeats 3] [--tokenizer]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import importlib
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from loguru import logger

from apertus_compliance.paths import bundled_data
from apertus_compliance.pipeline.recipe import load_recipe
from apertus_compliance.pipeline.steps import QUIET_ENV

rebuild_module = importlib.import_module(
    "apertus_compliance.pipeline.rebuild"
)  # the module; the function is rebuild_mixture

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rebuild_bench import PII, WORDS, write_recipe  # noqa: E402  (the rebuild bench's vocabulary, PII, recipe)

SOURCE = "web"


def write_input(folder: Path, documents: int, files: int) -> tuple[int, int]:
    """``rebuild_bench.write_input``'s documents (same seed, same draws), generated in linear time."""
    rng = random.Random(1)
    hosts = (bundled_data() / "sample" / "signals" / "hosts.txt").read_text().split()
    rows, text_bytes = [], 0
    for number in range(documents):
        words, length = [], 0
        while length < 1000:
            word = rng.choice(WORDS)
            words.append(word)
            length += len(word) + 1
        if number % 20 == 0:
            words.insert(len(words) // 2, rng.choice(PII))
        text = " ".join(words)
        text_bytes += len(text.encode())
        rows.append(
            {
                "text": text,
                "id": f"doc-{number:07d}",
                "url": f"https://{rng.choice(hosts)}/{rng.choice([2013, 2018, 2024])}/{number}.html",
                "date": "2018-05-01T00:00:00Z",
                "language": "en",
            }
        )
    folder.mkdir(parents=True)
    for part in range(files):
        pq.write_table(pa.Table.from_pylist(rows[part::files]), folder / f"part-{part:02d}.parquet")
    return text_bytes, sum(path.stat().st_size for path in folder.glob("*.parquet"))


# --------------------------------------------------------------------------------------------
# end to end


STAGE_TIMES: list[float] = []


def _timed_run_stage(original):
    def run_stage(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            STAGE_TIMES.append(time.perf_counter() - started)

    return run_stage


def mixture_digest(run_dir: Path) -> str:
    digest = hashlib.sha256()
    for shard in sorted((run_dir / "mixture").rglob("*.parquet")):
        digest.update(shard.relative_to(run_dir).as_posix().encode() + b"\0" + shard.read_bytes())
    return digest.hexdigest()


def busy_cpu_seconds() -> float:
    """CPU time spent by the whole machine (all processes: ours, Ray's daemons, anything else)."""
    with open("/proc/stat") as handle:
        fields = [int(value) for value in handle.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def run_rebuild(recipe: Path, run_dir: Path, executor: str, workers: int) -> dict:
    STAGE_TIMES.clear()
    cpu = busy_cpu_seconds()
    started = time.perf_counter()
    lock = rebuild_module.rebuild(
        load_recipe(recipe), run_dir, workers=workers, executor=executor, echo=lambda message: None
    )
    total = time.perf_counter() - started
    cpu = busy_cpu_seconds() - cpu
    assert len(STAGE_TIMES) == 1, f"expected the filter stage only, got {len(STAGE_TIMES)} stage(s)"
    result = {
        "total": total,
        "filter": STAGE_TIMES[0],
        "cpu": cpu,
        "digest": mixture_digest(run_dir),
        "kept": sum(shard["documents"] for shard in lock["outputs"]),
    }
    shutil.rmtree(run_dir)
    return result


# --------------------------------------------------------------------------------------------
# stage profile: every step alone, in this process


def profile_stages(recipe: Path, scratch: Path, share: int) -> list[dict]:
    """One pass over ``1/share`` of the input files; per step: documents in, bytes in, tokens in, seconds."""
    from apertus_compliance.pipeline.steps import _SNAPSHOTS, _snapshot

    _SNAPSHOTS.clear()
    loaded = load_recipe(recipe)
    plan = rebuild_module.plan_sources(loaded)[0]
    snapshot = rebuild_module.snapshot_folder(loaded, scratch)
    started = time.perf_counter()
    _snapshot(str(snapshot))  # loaded once per worker process; timed apart
    load_seconds = time.perf_counter() - started
    steps = rebuild_module.filter_pipeline(loaded, plan, snapshot, scratch)
    rows = [{"step": "opt-out snapshot load (once per process)", "seconds": load_seconds}]
    documents = None
    for step in steps:
        before = documents
        size = sum(len(doc.text.encode()) for doc in before) if before is not None else 0
        gc.collect()
        gc.disable()  # a streaming task holds a few documents; tens of thousands held here would make
        started = time.perf_counter()  # the collector's passes a cost that the rebuild does not have
        documents = list(step.run(iter(before) if before is not None else None, rank=0, world_size=share))
        seconds = time.perf_counter() - started
        gc.enable()
        measured = before if before is not None else documents  # a step's input; the reader's output
        rows.append(
            {
                "step": step.name,
                "seconds": seconds,
                "documents": len(measured),
                "bytes": size or sum(len(doc.text.encode()) for doc in documents),
                "out": len(documents),
                "tokens": sum(doc.metadata.get("tokens", 0) for doc in measured),
            }
        )
    rows[1]["tokens"] = rows[2]["tokens"]  # the reader's documents, counted by the next step
    rows.append(
        {"step": "kept", "documents": len(documents), "tokens": sum(doc.metadata["tokens"] for doc in documents)}
    )
    shutil.rmtree(scratch, ignore_errors=True)
    return rows


# --------------------------------------------------------------------------------------------
# a real tokenizer's cost


def _docstrings(limit_mb: float) -> list[str]:
    """Docstrings of 200+ characters from the Python files of this interpreter's standard library and
    installed packages (English technical prose with some code), in path order, up to ``limit_mb``."""
    import re
    import sysconfig

    pattern = re.compile(r'"""(.{200,}?)"""', re.S)
    texts, size = [], 0
    for folder in dict.fromkeys([sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"]]):
        for path in sorted(Path(folder).rglob("*.py")):
            try:
                source = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            for match in pattern.finditer(source):
                texts.append(match.group(1))
                size += len(match.group(1))
                if size > limit_mb * 1e6:
                    return texts
    return texts


def tokenizer_cost(repeats: int, corpus_mb: float) -> dict:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    texts = _docstrings(corpus_mb)
    train, held_out = [text for index, text in enumerate(texts) if index % 5], texts[0::25]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=131_072, min_frequency=2, show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    started = time.perf_counter()
    tokenizer.train_from_iterator(train, trainer)
    train_seconds = time.perf_counter() - started
    sample_docs = []
    for name in ("dclm-edu", "fineweb2-hq"):
        for path in sorted((bundled_data() / "sample" / "sources" / name).glob("*.parquet")):
            sample_docs.extend(pq.read_table(path, columns=["text"])["text"].to_pylist())
    result = {
        "vocab": tokenizer.get_vocab_size(),
        "train_mb": sum(len(t.encode()) for t in train) / 1e6,
        "train_seconds": train_seconds,
        "corpora": {},
    }
    for label, corpus in (
        ("held-out docstrings (English technical prose, some code)", held_out),
        ("bundled sample: dclm-edu + fineweb2-hq (en, de, fr, it)", sample_docs),
    ):
        size = sum(len(text.encode()) for text in corpus)
        times, tokens = [], 0
        for _ in range(repeats):
            fresh = Tokenizer.from_str(tokenizer.to_str())  # an empty word cache, as a new task has
            started = time.perf_counter()
            tokens = sum(len(fresh.encode(text, add_special_tokens=False).ids) for text in corpus)
            times.append(time.perf_counter() - started)
        batch_times = []
        os.environ["TOKENIZERS_PARALLELISM"] = "false"  # read at every call: the batch runs on this thread
        for _ in range(repeats):
            fresh = Tokenizer.from_str(tokenizer.to_str())
            started = time.perf_counter()
            batch_tokens = sum(
                len(encoding.ids)
                for start in range(0, len(corpus), 1000)
                for encoding in fresh.encode_batch_fast(corpus[start : start + 1000], add_special_tokens=False)
            )
            batch_times.append(time.perf_counter() - started)
        del os.environ["TOKENIZERS_PARALLELISM"]
        assert batch_tokens == tokens
        started = time.perf_counter()
        fallback = sum(-(-len(text.encode()) // 4) for text in corpus)  # the fallback counter's work
        fallback_seconds = time.perf_counter() - started
        best = min(times)
        result["corpora"][label] = {
            "documents": len(corpus),
            "mb": size / 1e6,
            "tokens": tokens,
            "bytes_per_token": size / tokens,
            "seconds": best,
            "tokens_per_s": tokens / best,
            "mb_per_s": size / 1e6 / best,
            "us_per_kb": best / (size / 1000) * 1e6,
            "batch_fast_mb_per_s": size / 1e6 / min(batch_times),
            "fallback_us_per_kb": fallback_seconds / (size / 1000) * 1e6,
            "fallback_tokens": fallback,
        }
    return result


# --------------------------------------------------------------------------------------------


def _median_range(values: list[float], fmt: str = ",.0f") -> str:
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"


def _machine() -> str:
    model = "unknown"
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{model}, {os.cpu_count()} cores, {memory:.0f} GiB"


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=320_000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--profile-share",
        type=int,
        default=4,
        help="the stage profile reads 1/N of the input files (default 4: 2 of 8)",
    )
    parser.add_argument("--profile-repeats", type=int, default=3)
    parser.add_argument("--no-local", action="store_true", help="skip the local executor runs")
    parser.add_argument("--tokenizer", action="store_true", help="also time a trained BPE tokenizer")
    parser.add_argument(
        "--tokenizer-corpus-mb",
        type=float,
        default=60,
        help="docstrings read for it: 4/5 train the tokenizer, 1/25 (none of those) is timed",
    )
    args = parser.parse_args()
    os.environ[QUIET_ENV] = "1"
    logger.disable("datatrove")
    rebuild_module.run_stage = _timed_run_stage(rebuild_module.run_stage)

    print(
        f"machine: {_machine()}, Python {platform.python_version()}, datatrove {version('datatrove')}, "
        f"ray {version('ray')}, pyarrow {version('pyarrow')}, tokenizers {version('tokenizers')}"
    )
    print(
        f"date: {subprocess.run(['date', '-u'], capture_output=True, text=True).stdout.strip()}; "
        f"load average at start: {_load()}"
    )
    with tempfile.TemporaryDirectory(prefix="scale-bench-") as scratch:
        root = Path(scratch)
        started = time.perf_counter()
        text_bytes, parquet_bytes = write_input(root / "sources", args.documents, args.files)
        recipe = write_recipe(root, "scale-bench", SOURCE)
        print(
            f"input: {args.documents:,} documents, {text_bytes / args.documents:,.0f} bytes of text each "
            f"({text_bytes / 1e6:,.1f} MB of text, {parquet_bytes / 1e6:,.1f} MB of parquet) in {args.files} "
            f"files; generated in {time.perf_counter() - started:.1f} s"
        )

        # ---- stage profile (before any cluster exists, one core)
        profiles = [
            profile_stages(recipe, root / f"profile-{repeat}", args.profile_share)
            for repeat in range(args.profile_repeats)
        ]
        print(
            f"\n### Stage profile: each step alone, one core, {profiles[0][1]['documents']:,} documents "
            f"(1/{args.profile_share} of the files), median of {args.profile_repeats} (load {_load()})\n"
        )
        print("| step | documents in | us per document | docs/s per core | MB/s per core | tokens/s per core |")
        print("|---|---|---|---|---|---|")
        total_per_input = 0.0
        read = profiles[0][1]["documents"]
        for index, row in enumerate(profiles[0][:-1]):
            seconds = statistics.median(profile[index]["seconds"] for profile in profiles)
            if "documents" not in row:
                print(f"| {row['step']} | | {seconds * 1000:,.0f} ms | | | |")
                continue
            total_per_input += seconds / read
            docs = row["documents"]
            print(
                f"| {row['step']} | {docs:,} | {seconds / docs * 1e6:,.1f} | {docs / seconds:,.0f} | "
                f"{row['bytes'] / 1e6 / seconds:,.1f} | {row['tokens'] / seconds:,.0f} |"
            )
        kept, kept_tokens = profiles[0][-1]["documents"], profiles[0][-1]["tokens"]
        print(
            f"| **all steps, per document read** | {read:,} | {total_per_input * 1e6:,.1f} | "
            f"{1 / total_per_input:,.0f} | {profiles[0][1]['bytes'] / read / 1e6 / total_per_input:,.1f} | "
            f"{profiles[0][1]['tokens'] / read / total_per_input:,.0f} |"
        )
        print(
            f"\nkept {kept:,} of {read:,} documents ({kept / read:.1%}); kept tokens {kept_tokens:,} of "
            f"{profiles[0][1]['tokens']:,} read: {profiles[0][1]['tokens'] / kept_tokens:.3f} tokens read per "
            f"token kept; per kept token {total_per_input * read / kept_tokens * 1e6:.3f} us of one core"
        )

        # ---- end to end
        import ray

        started = time.perf_counter()
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            object_store_memory=256 * 1024 * 1024,
            log_to_driver=False,
            configure_logging=False,
            runtime_env={"env_vars": {QUIET_ENV: "1"}},
        )
        print(f"\nray.init (local cluster, 2 CPUs): {time.perf_counter() - started:.1f} s")
        configs = [("ray", 1), ("ray", 2)] + ([] if args.no_local else [("local", 1), ("local", 2)])
        results: dict[tuple[str, int], list[dict]] = {config: [] for config in configs}
        loads = []
        for repeat in range(args.repeats):
            order = configs if repeat % 2 == 0 else configs[::-1]
            for executor, workers in order:
                loads.append(os.getloadavg()[0])
                result = run_rebuild(recipe, root / f"run-{executor}-{workers}-{repeat}", executor, workers)
                results[(executor, workers)].append(result)
                print(
                    f"  repeat {repeat} {executor} w={workers}: {result['total']:.2f} s (filter stage "
                    f"{result['filter']:.2f} s), load {_load()}",
                    flush=True,
                )
        ray.shutdown()

        documents = args.documents
        print(
            f"\n### End to end: {documents:,} documents, {args.files} tasks, median (range) of {args.repeats} "
            f"(load average 1 min during the runs: {min(loads):.2f}-{max(loads):.2f})\n"
        )
        print(
            "| executor | workers | whole `rebuild()` docs/s | filter stage docs/s | whole call s | "
            "filter stage s | outside the filter stage s | machine CPU-s during the call | cores busy |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for (executor, workers), runs in results.items():
            totals = [run["total"] for run in runs]
            filters = [run["filter"] for run in runs]
            print(
                f"| {executor} | {workers} | {_median_range([documents / t for t in totals])} | "
                f"{_median_range([documents / t for t in filters])} | {_median_range(totals, '.2f')} | "
                f"{_median_range(filters, '.2f')} | {_median_range([t - f for t, f in zip(totals, filters, strict=True)], '.2f')} | "
                f"{_median_range([run['cpu'] for run in runs], '.1f')} | "
                f"{_median_range([run['cpu'] / run['total'] for run in runs], '.2f')} |"
            )

        def ratios(key: str, executor: str) -> list[float]:
            return [
                one[key] / two[key] for one, two in zip(results[(executor, 1)], results[(executor, 2)], strict=True)
            ]

        print()
        for executor in ("ray", "local"):
            if (executor, 2) not in results:
                continue
            for key, label in (("total", "whole rebuild()"), ("filter", "filter stage")):
                values = ratios(key, executor)
                target = " (target >= 1.7x)" if executor == "ray" else ""
                print(
                    f"- {executor} w=2 / w=1, {label}: **{statistics.median(values):.2f}x** "
                    f"(per repeat {min(values):.2f}-{max(values):.2f}){target}"
                )
        ray_over_local = [
            r["filter"] - l["filter"] for r, l in zip(results[("ray", 1)], results.get(("local", 1), []), strict=False)
        ]
        if ray_over_local:
            print(
                f"- Ray w=1 filter stage minus local w=1: {statistics.median(ray_over_local):.2f} s over "
                f"{args.files} tasks = {statistics.median(ray_over_local) / args.files * 1000:.0f} ms per task"
            )
            cpu_over_local = [
                r["cpu"] - l["cpu"] for r, l in zip(results[("ray", 1)], results[("local", 1)], strict=True)
            ]
            print(
                f"- machine CPU time, Ray w=1 minus local w=1: {statistics.median(cpu_over_local):.1f} s "
                f"= {statistics.median(cpu_over_local) / args.files * 1000:.0f} ms of CPU per task"
            )
        digests = {run["digest"] for runs in results.values() for run in runs}
        kepts = {run["kept"] for runs in results.values() for run in runs}
        print(
            f"- mixture shards (sha256 over all shards): {'identical in every run' if len(digests) == 1 else 'DIFFER'}"
            f" ({next(iter(digests))[:16]}..., {len(digests)} distinct), kept {sorted(kepts)} documents"
        )

        if args.tokenizer:
            cost = tokenizer_cost(args.profile_repeats, args.tokenizer_corpus_mb)
            print(
                f"\n### Token counting with a trained byte-level BPE (vocabulary {cost['vocab']:,}, trained on "
                f"{cost['train_mb']:.1f} MB in {cost['train_seconds']:.0f} s), `Tokenizer.encode` per document, "
                f"one core, best of {args.profile_repeats}\n"
            )
            print(
                "| text | documents | MB | bytes per token | tokens/s per core | MB/s per core | us per KB | "
                "`encode_batch_fast` (1 thread, batches of 1000) MB/s | fallback ceil(bytes/4), us per KB |"
            )
            print("|---|---|---|---|---|---|---|---|---|")
            for label, row in cost["corpora"].items():
                print(
                    f"| {label} | {row['documents']:,} | {row['mb']:.1f} | {row['bytes_per_token']:.2f} | "
                    f"{row['tokens_per_s']:,.0f} | {row['mb_per_s']:.2f} | {row['us_per_kb']:.0f} | "
                    f"{row['batch_fast_mb_per_s']:.2f} | "
                    f"{row['fallback_us_per_kb']:.2f} |"
                )
    print(f"\nload average at the end: {_load()}")


if __name__ == "__main__":
    main()
