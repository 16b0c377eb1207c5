"""How the rebuild scales: Ray with 2 workers against 1, the local executor beside it, and the
per-core cost of every filter-stage step (the inputs of the scale model in BENCHMARKS.md).
Target (issue 16): with 20,000-document tasks (``--documents 160000 --files 8``), Ray with 2
workers reaches at least 1.9x the documents/s of 1 worker. The 2 Ray workers are started once,
before the runs, and serve every Ray rebuild (as in one Ray session).

``--mixture`` instead generates a mixture with the shape of Stage 5 (seven sources in Table 6's
proportions, the real ``apertus`` tokenizer, an opt-out snapshot of ``--hosts`` generated hosts
from ``robots_corpus``) and runs it locally and on Ray with 1 and 2 workers, each run starting its
own workers: per-core throughput (per wall second and per CPU-second of the workers themselves,
which holds on a shared machine), peak memory per worker, and the scaling. The seven sources' filter
tasks run as one executor run (``pipeline/source_tasks.py``). ``--snapshot DIR`` uses a snapshot
compiled before (``bench/snapshot_scale_bench.py --keep``, e.g. 10M hosts) instead of generating and
compiling one; ``--hosts`` must then say how many hosts it has (the URLs are drawn over them).

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
``run_stage`` (patched in this process only; all sources' filter tasks run in one call).

    python bench/scale_bench.py [--documents 320000] [--files 8] [--repeats 3] [--tokenizer] [--no-profile]
    python bench/scale_bench.py --mixture --files 4 --hosts 1000000 --repeats 2   # the run in BENCHMARKS.md
    python bench/snapshot_scale_bench.py --hosts 10000000 --keep /data/snapshots   # once: compile and keep
    python bench/scale_bench.py --mixture --hosts 10000000 --snapshot /data/snapshots/snapshot-10000000/snapshot
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
from collections import Counter
from importlib.metadata import version
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from loguru import logger

from apertus_compliance.paths import bundled_data
from apertus_compliance.pipeline.ray_workers import reservation, session_workers
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


# --------------------------------------------------------------------------------------------
# the Stage-5 mixture at a fraction of its size: several sources, the real tokenizer, a large snapshot

MIXTURE = [
    # id, Table 6 tokens (billions), kind, opt-outs apply, mean characters per document
    ("dclm-edu", 1619, "english", True, 2400),
    ("fineweb2-hq", 986, "multilingual", True, 2400),
    ("starcoder", 250, "code", False, 3000),  # StarCoder twice (182) + CommonPile/Stack v2 Edu (68)
    ("math", 66, "math", True, 2000),  # FineMath (32) + InfiMM-WebMath (19) + MegaMath Web-Pro (15)
    ("wikipedia", 33, "english", False, 3000),
    ("parallel", 21, "multilingual", False, 600),
    ("task", 3, "english", False, 800),
]
"""Table 6 (FACTS.md) grouped into seven sources; bytes of text per source follow its tokens."""
LANGUAGE_WORDS = {
    "de": "und der die das nicht eine Straße größer Brücke über Mädchen Grüße wir sehr schön Stadt".split(),
    "fr": "le la les des être très où déjà français élève à côté château fenêtre garçon année".split(),
    "it": "il che della perché città più già così università però anche questo quella".split(),
    "ru": "и в не на что это как город река большой школа библиотека время".split(),
    "zh": "的 是 我们 中国 城市 河流 学校 图书馆 时间 今天 朋友 学习".split(),
    "ja": "これは 日本語 の 文章 です 東京 学校 図書館 時間 今日 友達".split(),
    "ar": "في من على هذا المدينة النهر المدرسة المكتبة الوقت اليوم".split(),
}
CODE_LINES = [
    "def {w}_{n}(items, limit={n}):",
    "    for index, item in enumerate(items):",
    "        if item.{w} > limit:",
    "            return {{'{w}': item, 'index': index}}",
    "    total = sum(x * {n} for x in range(limit))",
    "class {W}Handler(BaseHandler):",
    "    # {w} the {w} before returning",
    "import os, sys  # {w}",
    "    raise ValueError(f'bad {w}: {{value!r}}')",
]
MATH_LINES = [
    "Let $f(x) = x^{n} + {n}x$. Then $f'(x) = {n}x^{{{n}}} + {n}$.",
    "\\begin{{equation}} \\int_0^{n} x^2 \\, dx = \\frac{{{n}^3}}{{3}} \\end{{equation}}",
    "Proof. Suppose the {w} is bounded by {n}; then the sum converges.",
    "Exercise {n}: compute $\\sum_{{k=1}}^{{{n}}} k^2$ for the {w} case.",
]


def _mixture_text(rng: random.Random, kind: str, characters: int) -> str:
    length = max(100, int(rng.expovariate(1 / characters)))
    if kind == "code":
        lines, size = [], 0
        while size < length:
            word = rng.choice(WORDS)
            line = rng.choice(CODE_LINES).format(w=word, W=word.title(), n=rng.randrange(100))
            lines.append(line)
            size += len(line) + 1
        return "\n".join(lines)
    if kind == "math":
        parts, size = [], 0
        while size < length:
            part = (
                rng.choice(MATH_LINES).format(w=rng.choice(WORDS), n=rng.randrange(2, 20))
                if rng.random() < 0.4
                else " ".join(rng.choices(WORDS, k=12))
            )
            parts.append(part)
            size += len(part) + 1
        return " ".join(parts)
    words = LANGUAGE_WORDS[rng.choice(list(LANGUAGE_WORDS))] if kind == "multilingual" else WORDS
    mean_word = sum(map(len, words)) / len(words) + 1
    text = " ".join(rng.choices(words, k=max(1, int(length / mean_word))))
    if rng.random() < 0.05:
        text = text[: len(text) // 2] + f" {rng.choice(PII)} " + text[len(text) // 2 :]
    return text


def write_mixture(root: Path, documents: int, hosts: int, files_per_source: int, snapshot: Path) -> dict:
    """Parquet files per source (bytes of text in Table 6's proportions), URLs on the snapshot's hosts
    (``robots_corpus.host_name(n)``, ``n < hosts``), and a recipe with the real tokenizer and ``snapshot``;
    returns what was written, per source."""
    import yaml
    from robots_corpus import host_name, url_for

    rng = random.Random(5)
    total_tokens = sum(tokens for _, tokens, *_ in MIXTURE)
    mean_characters = sum(tokens * chars for _, tokens, _, _, chars in MIXTURE) / total_tokens
    total_characters = documents * mean_characters
    written, sources = {}, []
    for source_id, tokens, kind, optout, characters in MIXTURE:
        count = max(files_per_source, round(total_characters * tokens / total_tokens / characters))
        rows = []
        for number in range(count):
            host = host_name(rng.randrange(hosts))
            rows.append(
                {
                    "text": _mixture_text(rng, kind, characters),
                    "id": f"{source_id}-{number:07d}",
                    "url": url_for(rng, host),
                    "date": "2024-05-01T00:00:00Z",
                    "language": "en",
                }
            )
        folder = root / "sources" / source_id
        folder.mkdir(parents=True)
        for part in range(files_per_source):
            pq.write_table(pa.Table.from_pylist(rows[part::files_per_source]), folder / f"part-{part:02d}.parquet")
        written[source_id] = {"documents": count, "bytes": sum(len(row["text"].encode()) for row in rows)}
        sources.append(
            {
                "id": source_id,
                "location": f"sources/{source_id}/*.parquet",
                "format": "parquet",
                "target_tokens": 10**15,
                "optout": optout,
                "fields": {"text": "text", "id": "id", "url": "url", "date": "date", "language": "language"},
            }
        )
    recipe = {
        "name": "scale-mixture",
        "seed": 1,
        "tokenizer": "apertus",
        "optout": {"snapshot": str(snapshot)},
        "sources": sources,
    }
    (root / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    return written


def write_snapshot(root: Path, hosts: int) -> dict:
    """``robots_corpus``'s registry of ``hosts`` generated robots.txt files, compiled as of 2025-01-31."""
    from datetime import date, datetime

    from robots_corpus import write_registry

    from apertus_compliance.optout import Registry, SnapshotOptions, compile_snapshot, load_agent_list

    started = time.perf_counter()
    write_registry(root / "registry.duckdb", hosts, datetime(2025, 1, 15))
    generated = time.perf_counter() - started
    started = time.perf_counter()
    with Registry(root / "registry.duckdb", read_only=True) as registry:
        compile_snapshot(
            registry, SnapshotOptions(date(2025, 1, 31), load_agent_list("apertus-2025-01")), root / "snapshot"
        )
    compiled = time.perf_counter() - started
    (root / "registry.duckdb").unlink()
    size = sum(path.stat().st_size for path in (root / "snapshot").rglob("*") if path.is_file())
    return {"generate_s": generated, "compile_s": compiled, "bytes": size}


def existing_snapshot(folder: Path, hosts: int) -> dict:
    """A snapshot compiled before (``snapshot_scale_bench.py --keep``); its robots.txt observations must
    number ``hosts``, or the URLs would be drawn over hosts it does not have (or over a part of it)."""
    import json

    manifest_file = folder / "manifest.json"
    if not manifest_file.is_file():
        raise SystemExit(f"--snapshot {folder}: no manifest.json there (not a compiled snapshot)")
    manifest = json.loads(manifest_file.read_text())
    observations = manifest.get("counts", {}).get("observations", {})
    robots = sum(count for kind, count in observations.items() if kind.startswith("robots:"))
    if observations and robots != hosts:
        raise SystemExit(f"--snapshot {folder}: {robots:,} robots.txt observations, but --hosts says {hosts:,}")
    size = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
    return {"bytes": size, "as_of": manifest.get("as_of"), "agent_list": manifest.get("agent_list", {})}


def _local_mixture_run(recipe: str, run_dir: str, workers: int) -> dict:
    """A local rebuild in a fresh process; its own peak memory and that of its worker processes."""
    import resource

    os.environ[QUIET_ENV] = "1"
    logger.disable("datatrove")
    rebuild_module.run_stage = _timed_run_stage(rebuild_module.run_stage)
    STAGE_TIMES.clear()
    started = time.perf_counter()
    lock = rebuild_module.rebuild(load_recipe(recipe), run_dir, workers=workers, echo=lambda message: None)
    seconds = time.perf_counter() - started
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "seconds": seconds,
        "filter_seconds": STAGE_TIMES[0],  # all sources' filter tasks, one run_stage call
        "lock": lock,
        "peaks": [own.ru_maxrss * 1024, children.ru_maxrss * 1024],
        "worker_cpu": (own.ru_utime + own.ru_stime) if workers == 1 else (children.ru_utime + children.ru_stime),
    }


def mixture_run(recipe: Path, run_dir: Path, executor: str, workers: int) -> dict:
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    import ray

    cpu = busy_cpu_seconds()
    if executor == "local":
        with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
            result = pool.submit(_local_mixture_run, str(recipe), str(run_dir), workers).result()
        driver, children = result["peaks"]
        result["worker_peak"] = driver if workers == 1 else children  # w=1: the tasks run in the driver
    else:
        session_workers().close()  # workers start within the run, as in one `rebuild --executor ray`
        original, rebuild_module.run_stage = rebuild_module.run_stage, _timed_run_stage(rebuild_module.run_stage)
        STAGE_TIMES.clear()
        started = time.perf_counter()
        try:
            lock = rebuild_module.rebuild(
                load_recipe(recipe), run_dir, workers=workers, executor="ray", echo=lambda message: None
            )
        finally:
            rebuild_module.run_stage = original
        result = {"seconds": time.perf_counter() - started, "filter_seconds": STAGE_TIMES[0], "lock": lock}
        result["worker_peak"] = max(session_workers().peaks())
        result["worker_cpu"] = sum(ray.get([actor.cpu_seconds.remote() for actor in session_workers().actors]))
        result["worker_private"] = max(ray.get([actor.private_memory.remote() for actor in session_workers().actors]))
    result["cpu"] = busy_cpu_seconds() - cpu
    lock = result.pop("lock")
    result["read"] = sum(entry["documents"]["read"] for entry in lock["sources"].values())
    result["tokens_read"] = sum(
        entry["tokens"]["kept"] + sum(entry["tokens"]["removed"].values()) for entry in lock["sources"].values()
    )
    result["tokens_kept"] = lock["totals"]["tokens_kept"]
    result["removed"] = sum((Counter(entry["documents"]["removed"]) for entry in lock["sources"].values()), Counter())
    result["digest"] = mixture_digest(run_dir)
    result["tasks"] = sum(entry["tasks"] for entry in lock["sources"].values())
    shutil.rmtree(run_dir)
    return result


def mixture_bench(args: argparse.Namespace) -> None:
    import ray

    with tempfile.TemporaryDirectory(prefix="scale-mixture-") as scratch:
        root = Path(scratch)
        from apertus_compliance.optout import Snapshot

        snapshot_folder = args.snapshot.resolve() if args.snapshot else root / "snapshot"
        snapshot = existing_snapshot(snapshot_folder, args.hosts) if args.snapshot else write_snapshot(root, args.hosts)
        started = time.perf_counter()
        opened = Snapshot(snapshot_folder)
        open_seconds = time.perf_counter() - started
        del opened
        if args.snapshot:
            print(
                f"snapshot: {snapshot_folder}, compiled before, {args.hosts:,} generated hosts "
                f"(bench/robots_corpus.py), as of {snapshot['as_of']}, "
                f"{snapshot['bytes'] / 1e6:,.1f} MB on disk, opened in {open_seconds:.2f} s"
            )
        else:
            print(
                f"snapshot: {args.hosts:,} generated hosts (bench/robots_corpus.py), registry written in "
                f"{snapshot['generate_s']:.1f} s, compiled in {snapshot['compile_s']:.1f} s, "
                f"{snapshot['bytes'] / 1e6:,.1f} MB on disk, opened in {open_seconds:.2f} s"
            )
        started = time.perf_counter()
        written = write_mixture(root, args.documents, args.hosts, args.files, snapshot_folder)
        text_bytes = sum(item["bytes"] for item in written.values())
        print(
            f"mixture: {sum(item['documents'] for item in written.values()):,} documents, "
            f"{text_bytes / 1e6:,.1f} MB of text, {len(written)} sources x {args.files} files, generated in "
            f"{time.perf_counter() - started:.1f} s"
        )
        print("| source | documents | MB of text | share of bytes | Table 6 share of tokens |")
        print("|---|---|---|---|---|")
        total_tokens = sum(tokens for _, tokens, *_ in MIXTURE)
        for source_id, tokens, *_ in MIXTURE:
            item = written[source_id]
            print(
                f"| {source_id} | {item['documents']:,} | {item['bytes'] / 1e6:.1f} | "
                f"{item['bytes'] / text_bytes:.1%} | {tokens / total_tokens:.1%} |"
            )
        recipe = root / "recipe.yaml"
        configs = [("local", 1), ("local", 2), ("ray", 1), ("ray", 2)]
        results: dict[tuple[str, int], list[dict]] = {config: [] for config in configs}
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            object_store_memory=256 * 1024 * 1024,
            log_to_driver=False,
            configure_logging=False,
            runtime_env={"env_vars": {QUIET_ENV: "1"}},
        )
        loads = []
        for repeat in range(args.repeats):
            for executor, workers in configs if repeat % 2 == 0 else configs[::-1]:
                loads.append(os.getloadavg()[0])
                result = mixture_run(recipe, root / f"run-{executor}-{workers}-{repeat}", executor, workers)
                results[(executor, workers)].append(result)
                print(
                    f"  repeat {repeat} {executor} w={workers}: {result['seconds']:.1f} s (filter stage "
                    f"{result['filter_seconds']:.1f} s), machine CPU "
                    f"{result['cpu']:.1f} s, worker peak {result['worker_peak'] / 2**20:,.0f} MiB"
                    + (
                        f" (anonymous at the end {result['worker_private'] / 2**20:,.0f} MiB)"
                        if "worker_private" in result
                        else ""
                    )
                    + f", load {_load()}",
                    flush=True,
                )
        ray.shutdown()
        first = results[("local", 1)][0]
        print(
            f"\n### Stage-5-shaped mixture, real tokenizer, {args.hosts:,}-host snapshot: {first['read']:,} "
            f"documents, {first['tasks']} tasks, {first['tokens_read']:,} Apertus tokens read, "
            f"{first['tokens_kept']:,} kept ({first['tokens_read'] / first['tokens_kept']:.3f} read per kept); "
            f"median (range) of {args.repeats}; load average 1 min during the runs {min(loads):.2f}-{max(loads):.2f}\n"
        )
        print(
            "| executor | workers | whole rebuild s | filter stage s | docs/s | docs/s per core | tokens/s per core | "
            "MB/s per core | workers' CPU-s | docs per worker CPU-s | tokens per worker CPU-s | "
            "peak RSS per worker MiB | machine CPU-s |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for (executor, workers), runs in results.items():
            seconds = [run["seconds"] for run in runs]
            print(
                f"| {executor} | {workers} | {_median_range(seconds, '.1f')} | "
                f"{_median_range([run['filter_seconds'] for run in runs], '.1f')} | "
                f"{_median_range([first['read'] / t for t in seconds])} | "
                f"{_median_range([first['read'] / t / workers for t in seconds])} | "
                f"{_median_range([first['tokens_read'] / t / workers for t in seconds])} | "
                f"{_median_range([text_bytes / 1e6 / t / workers for t in seconds], '.2f')} | "
                f"{_median_range([run['worker_cpu'] for run in runs], '.1f')} | "
                f"{_median_range([first['read'] / run['worker_cpu'] for run in runs])} | "
                f"{_median_range([first['tokens_read'] / run['worker_cpu'] for run in runs])} | "
                f"{_median_range([run['worker_peak'] / 2**20 for run in runs])} | "
                f"{_median_range([run['cpu'] for run in runs], '.1f')} |"
            )
        print()
        for executor in ("local", "ray"):
            for key, what in (("seconds", "whole rebuild"), ("filter_seconds", "filter stage")):
                values = [
                    one[key] / two[key] for one, two in zip(results[(executor, 1)], results[(executor, 2)], strict=True)
                ]
                print(
                    f"- {executor} w=2 / w=1, {what}: **{statistics.median(values):.2f}x** "
                    f"({min(values):.2f}-{max(values):.2f})"
                )
        digests = {run["digest"] for runs in results.values() for run in runs}
        print(
            f"- mixture shards: {'identical in every run' if len(digests) == 1 else 'DIFFER'} ({len(digests)} distinct)"
            f"; removed by reason: {dict(sorted(first['removed'].items()))}"
        )


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
    parser.add_argument("--documents", type=int, help="default 320,000; with --mixture 40,000, over all sources")
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
    parser.add_argument("--no-profile", action="store_true", help="skip the stage profile")
    parser.add_argument(
        "--mixture",
        action="store_true",
        help="instead: the Stage-5-shaped mixture (--documents in all, --files per source) with the real "
        "tokenizer and a generated snapshot of --hosts hosts (or --snapshot), local and Ray, 1 and 2 workers",
    )
    parser.add_argument(
        "--hosts",
        type=int,
        default=20_000,
        help="hosts of the generated snapshot, or of --snapshot's (--mixture); the URLs are drawn over them",
    )
    parser.add_argument(
        "--snapshot",
        type=Path,
        help="with --mixture: a snapshot compiled before (snapshot_scale_bench.py --keep DIR gives "
        "DIR/snapshot-N/snapshot) of --hosts generated hosts, used instead of generating and compiling one",
    )
    args = parser.parse_args()
    if args.snapshot and not args.mixture:
        parser.error("--snapshot goes with --mixture")
    args.documents = args.documents or (40_000 if args.mixture else 320_000)
    os.environ[QUIET_ENV] = "1"
    logger.disable("datatrove")
    if args.mixture:
        print(
            f"machine: {_machine()}, Python {platform.python_version()}, datatrove {version('datatrove')}, "
            f"ray {version('ray')}; {subprocess.run(['date', '-u'], capture_output=True, text=True).stdout.strip()}"
            f"; load average at start: {_load()}"
        )
        mixture_bench(args)
        print(f"\nload average at the end: {_load()}")
        return
    rebuild_module.run_stage = _timed_run_stage(rebuild_module.run_stage)  # the filter stage, then budget stages

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
        if not args.no_profile:
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
        started = time.perf_counter()
        workers = session_workers().take(2, reservation(1, 2))  # the recipe's defaults
        ray.get([worker.peak_memory.remote() for worker in workers])
        print(
            f"2 long-lived Ray workers started (imports done) in {time.perf_counter() - started:.1f} s; every "
            "rebuild below runs on them, as in one Ray session"
        )
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
        peaks = session_workers().peaks()
        ray.shutdown()
        print(f"peak resident memory of the 2 Ray workers: {', '.join(f'{peak / 2**20:,.0f} MiB' for peak in peaks)}")

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
                target = " (target >= 1.9x)" if executor == "ray" else ""
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
