"""The bundled inference engine (``serve/engine.py``) on a CPU, in one run: single-stream decode speed
against plain ``model.generate`` on the same model, prompt and sampling; aggregate speed at 8
concurrent streams against 1; and the output filter's share of generation time.

Targets (issue): engine 1 stream >= 0.9x ``model.generate``; engine 8 streams >= 3x engine 1
stream (aggregate tokens/s); filter time <= 2% of generation time.

The model is a randomly initialised Apertus of the real Apertus-0.5B shape (20 layers, d_model
1024, MLP 6144, 16 query / 4 key-value heads, vocabulary 131,072) with the tiny bundled tokenizer,
built in memory (``serve.random_model``); the hub is never asked. One intra-op thread
(``torch.set_num_threads(1)``): on the 2-core VM two threads stall the small decode matmuls.
Each repeat runs baseline and candidates back to back, in alternating order (ABBA); the table shows
medians, and for ratios also the range of the ratios within each repeat. Every run generates exactly
``--max-tokens`` tokens (``min_new_tokens`` for ``generate``, ``ignore_eos`` for the engine); tokens/s
counts generated tokens over the wall time of the whole request, prefill included. The time spent
inside ``model.forward`` is recorded too: the forward is the same code on both sides, and on a
shared VM its speed drifts by +-20% from one run to the next; the time outside it (sampling,
scheduling, cache handling) is what the engine itself controls.

Filter share: the random model's tokens mostly fall outside the tiny tokenizer's vocabulary and
decode to nothing, so the filter is timed on realistic text instead: per generated stream, English-
like text of ~4 characters per generated token (generated names from a 10k-entry deletion list
planted in some), split into as many pieces as tokens, wrapped in the SSE events the API sends for
a streamed chat completion and fed to the streaming filter (``SSEFilter``, as the middleware does).
Its time for all streams of a run is divided by that run's generation time.

    python bench/serve_bench.py [--max-tokens 64] [--prompt-tokens 32] [--streams 8] [--repeats 5]
                                [--secondary-repeats 3] [--dtypes bfloat16,float32] [--no-greedy]
"""

from __future__ import annotations

import argparse
import copy
import functools
import os
import platform
import random
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson
import torch
from filter_bench import make_names, make_texts  # bench/ is on sys.path when this runs as a script

from apertus_compliance.filters import DeletionList, Redactor, build_release, generate_keypair
from apertus_compliance.filters.middleware import SSEFilter
from apertus_compliance.serve.engine import Engine, SamplingParams
from apertus_compliance.serve.random_model import CORPUS, build_tokenizer, random_model

TEMPERATURE, TOP_P = 0.8, 0.9
CHARS_PER_TOKEN = 4


def machine() -> str:
    model = ""
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{platform.machine()}, {os.cpu_count()} cores ({model or 'model unknown'}), {memory:.0f} GiB, "
        f"Python {platform.python_version()}"
    )


# --------------------------------------------------------------------------------------------
# generation


@dataclass
class Run:
    seconds: float
    forward_seconds: float
    """Of which inside the model's forward (prefill and decode steps)."""
    tokens: int
    """Generated, all streams together."""
    pieces: list[int] | None = None
    """Engine only: pieces released per stream."""
    mean_batch: float = 1.0

    @property
    def rate(self) -> float:
        return self.tokens / self.seconds

    @property
    def outside_ms(self) -> float:
        """Milliseconds per generated token spent outside the model's forward."""
        return (self.seconds - self.forward_seconds) / self.tokens * 1e3


class ForwardClock:
    """Adds up the time spent in ``model.forward`` (by whichever thread calls it; one at a time here)."""

    def __init__(self, model) -> None:
        self.seconds = 0.0
        forward = model.forward

        @functools.wraps(forward)  # generate inspects the signature (logits_to_keep, ...)
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return forward(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        model.forward = timed


def timed_generate(model, clock: ForwardClock, prompt: list[int], tokens: int, *, sample: bool, seed: int) -> Run:
    """``model.generate`` producing exactly ``tokens`` new tokens."""
    ids = torch.tensor([prompt])
    options = dict(do_sample=True, temperature=TEMPERATURE, top_p=TOP_P) if sample else dict(do_sample=False)
    torch.manual_seed(seed)
    inside = clock.seconds
    started = time.perf_counter()
    with torch.inference_mode():
        output = model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=tokens,
            min_new_tokens=tokens,
            pad_token_id=model.config.pad_token_id,
            **options,
        )
    seconds = time.perf_counter() - started
    assert output.shape[1] - len(prompt) == tokens, output.shape
    return Run(seconds, clock.seconds - inside, tokens)


def timed_engine(
    engine: Engine, clock: ForwardClock, prompt: list[int], tokens: int, *, streams: int, sample: bool, seed: int
) -> Run:
    """``streams`` concurrent requests of exactly ``tokens`` tokens each, submitted together."""
    params = [
        SamplingParams(
            max_tokens=tokens,
            temperature=TEMPERATURE if sample else 0.0,
            top_p=TOP_P,
            seed=seed + index,
            ignore_eos=True,
        )
        for index in range(streams)
    ]
    steps, rows, generated = (engine.stats[key] for key in ("steps", "batched_rows", "completion_tokens"))
    inside = clock.seconds
    started = time.perf_counter()
    generations = [engine.submit(prompt, param) for param in params]
    pieces = [sum(1 for _ in generation) for generation in generations]
    seconds = time.perf_counter() - started
    assert engine.stats["completion_tokens"] - generated == streams * tokens
    mean_batch = (engine.stats["batched_rows"] - rows) / max(1, engine.stats["steps"] - steps)
    return Run(seconds, clock.seconds - inside, streams * tokens, pieces, mean_batch)


# --------------------------------------------------------------------------------------------
# the filter


def chat_events(text: str, pieces: int) -> list[bytes]:
    """The SSE events serve/api.py sends for a streamed chat completion of ``text`` in ``pieces`` pieces."""
    base = {"id": "chatcmpl-bench", "created": int(time.time()), "model": "bench", "object": "chat.completion.chunk"}
    cuts = [len(text) * index // pieces for index in range(pieces + 1)]
    parts = [text[start:end] for start, end in zip(cuts, cuts[1:], strict=False)]

    def event(delta: dict, finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return b"data: " + orjson.dumps({**base, "choices": [choice]}) + b"\n\n"

    return (
        [event({"role": "assistant", "content": ""})]
        + [event({"content": part}) for part in parts[:-1]]
        + [event({"content": parts[-1]}, "length"), b"data: [DONE]\n\n"]
    )


def filter_seconds(redactor: Redactor, streams: list[list[bytes]]) -> tuple[float, int]:
    """Time to pass every stream's events through its own ``SSEFilter`` (one per response, as the middleware
    builds one), and how many entries it redacted."""
    filters = []
    started = time.perf_counter()
    for events in streams:
        sse = SSEFilter(redactor)
        for event in events:
            sse.feed(event)
        sse.end()
        filters.append(sse)
    seconds = time.perf_counter() - started
    assert not any(sse.error for sse in filters)
    return seconds, sum(sum(sse.counts.values()) for sse in filters)


def stream_seconds(redactor: Redactor, texts: list[str], pieces: int) -> float:
    """Time for ``Redactor.stream()`` alone, fed each text in ``pieces`` pieces."""
    started = time.perf_counter()
    for text in texts:
        cuts = [len(text) * index // pieces for index in range(pieces + 1)]
        stream = redactor.stream()
        for start, end in zip(cuts, cuts[1:], strict=False):
            stream.feed(text[start:end])
        stream.close()
    return time.perf_counter() - started


def build_redactor(root: Path, entries: int) -> tuple[Redactor, list[str]]:
    rng = random.Random(7)
    firsts, lasts = make_names(rng, 4000), make_names(random.Random(8), 2500)
    pairs = rng.sample(range(len(firsts) * len(lasts)), entries)
    names = [f"{firsts[index // len(lasts)]} {lasts[index % len(lasts)]}" for index in pairs]
    generate_keypair(root / "keys")
    (root / "requests.csv").write_text("value,category\n" + "".join(f"{name},name\n" for name in names))
    build_release(root / "requests.csv", root / "keys" / "private.key", root / "release", "bench-serve")
    return Redactor(DeletionList.load(root / "release", root / "keys" / "public.key")), names


# --------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--prompt-tokens", type=int, default=32)
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5, help="repeats for the first dtype")
    parser.add_argument("--secondary-repeats", type=int, default=3, help="repeats for other dtypes and greedy")
    parser.add_argument("--dtypes", default="bfloat16,float32", help="the first is the headline; others secondary")
    parser.add_argument(
        "--greedy",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time greedy decoding, 1 stream (first dtype only)",
    )
    parser.add_argument("--entries", type=int, default=10_000, help="deletion-list entries for the filter share")
    args = parser.parse_args()
    torch.set_num_threads(1)
    tokens, streams = args.max_tokens, args.streams
    dtypes = [name.strip() for name in args.dtypes.split(",") if name.strip()]
    head = dtypes[0]
    started_at = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_before = os.getloadavg()

    tokenizer = build_tokenizer()
    prompt = tokenizer(" ".join(CORPUS[:5]), add_special_tokens=False)["input_ids"][: args.prompt_tokens]
    assert len(prompt) == args.prompt_tokens
    built = time.perf_counter()
    base_model = random_model("apertus-0.5b", vocab_size=131072, tokenizer=tokenizer)
    build_seconds = time.perf_counter() - built

    runs: dict[str, list[Run]] = {}  # "generate|bfloat16|sample" -> one Run per repeat
    for position, dtype_name in enumerate(dtypes):
        dtype = getattr(torch, dtype_name)
        model = (copy.deepcopy(base_model).to(dtype) if dtype != base_model.dtype else base_model).eval()
        clock = ForwardClock(model)
        engine = Engine(model, tokenizer, name=f"apertus-0.5b-random-{dtype_name}", max_batch_size=16).start()

        def generate(sample: bool, model=model, clock=clock) -> Callable[[int], Run]:
            return lambda seed: timed_generate(model, clock, prompt, tokens, sample=sample, seed=seed)

        def ours(count: int, sample: bool, engine=engine, clock=clock) -> Callable[[int], Run]:
            return lambda seed: timed_engine(engine, clock, prompt, tokens, streams=count, sample=sample, seed=seed)

        # baseline and candidate run back to back, in alternating order (ABBA), so drift hits both alike
        groups = [
            [
                (f"generate|{dtype_name}|sample", generate(True)),
                (f"engine1|{dtype_name}|sample", ours(1, True)),
                (f"engine{streams}|{dtype_name}|sample", ours(streams, True)),
            ]
        ]
        if args.greedy and position == 0:
            groups.append(
                [(f"generate|{dtype_name}|greedy", generate(False)), (f"engine1|{dtype_name}|greedy", ours(1, False))]
            )
        generate(True)(0), ours(streams, True)(0)  # warm-up: allocator, oneDNN kernels, first-call imports
        for repeat in range(args.repeats if position == 0 else args.secondary_repeats):
            for group in groups if repeat < args.secondary_repeats else groups[:1]:
                for name, case in group if repeat % 2 == 0 else group[::-1]:
                    run = case(1000 * repeat + 1)
                    runs.setdefault(name, []).append(run)
                    print(
                        f"  {name} repeat {repeat + 1}: {run.rate:.2f} tokens/s, outside the forward "
                        f"{run.outside_ms:.1f} ms/token (load {os.getloadavg()[0]:.2f})",
                        flush=True,
                    )
        engine.stop()
        del engine, model, clock

    # ---- the filter's share, against the headline dtype's generation times
    filter_ms: dict[int, list[float]] = {1: [], streams: []}
    shares: dict[int, list[float]] = {1: [], streams: []}
    stream_only: list[float] = []
    redacted = 0
    with tempfile.TemporaryDirectory(prefix="serve-bench-") as scratch:
        redactor, listed = build_redactor(Path(scratch), args.entries)
        rng = random.Random(11)
        size = tokens * CHARS_PER_TOKEN
        redactor.redact(" ".join(make_texts(rng, listed, 20, size)))  # warm the token cache, as a running server
        for count in (1, streams):
            for run in runs[f"engine{count}|{head}|sample"]:
                texts = make_texts(rng, listed, count, size)
                seconds, found = filter_seconds(redactor, [chat_events(text, tokens) for text in texts])
                redacted += found
                filter_ms[count].append(seconds * 1e3)
                shares[count].append(seconds / run.seconds)
                if count == streams:
                    stream_only.append(stream_seconds(redactor, texts, tokens) / run.seconds)
    load_after = os.getloadavg()

    # ---- the table
    def rate(name: str) -> float:
        return statistics.median(run.rate for run in runs[name])

    def spread(name: str) -> str:
        rates = [run.rate for run in runs[name]]
        return f"{rate(name):.2f} ({min(rates):.2f}-{max(rates):.2f})"

    def ratio(name: str, baseline: str, bold: bool = True) -> str:
        """The ratio of the medians, and the range of the ratios within each repeat."""
        per_repeat = [mine.rate / theirs.rate for mine, theirs in zip(runs[name], runs[baseline], strict=True)]
        figure = f"{rate(name) / rate(baseline):.2f}x"
        return f"{f'**{figure}**' if bold else figure} (per repeat {min(per_repeat):.2f}-{max(per_repeat):.2f})"

    def outside(name: str) -> float:
        return statistics.median(run.outside_ms for run in runs[name])

    def forward(name: str) -> float:
        return statistics.median(run.forward_seconds / run.tokens * 1e3 for run in runs[name])

    print()
    print(
        f"date: {started_at}; machine: {machine()}; torch {torch.__version__}, "
        f"transformers {__import__('transformers').__version__}; 1 intra-op thread"
    )
    print(
        f"load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f}; "
        f"model built in {build_seconds:.0f} s"
    )
    print(
        f"prompt {len(prompt)} tokens, {tokens} new tokens per stream, temperature {TEMPERATURE}, top_p {TOP_P}; "
        f"medians of {args.repeats} repeats ({args.secondary_repeats} for greedy and {', '.join(dtypes[1:]) or '-'}), "
        f"range in brackets"
    )
    print()
    print("| measure | tokens/s | ratio | target |")
    print("|---|---|---|---|")
    for dtype_name in dtypes:
        mark = "" if dtype_name == head else " (secondary)"
        baseline, one, many = (f"{case}|{dtype_name}|sample" for case in ("generate", "engine1", f"engine{streams}"))
        print(f"| `model.generate`, 1 stream, {dtype_name}{mark} | {spread(baseline)} | baseline | |")
        print(
            f"| engine, 1 stream, {dtype_name}{mark} | {spread(one)} | {ratio(one, baseline)} of generate | >= 0.9x |"
        )
        print(
            f"| engine, {streams} streams (aggregate), {dtype_name}{mark} | {spread(many)} | "
            f"{ratio(many, one)} of 1 stream | >= 3x |"
        )
    if args.greedy:
        baseline, one = f"generate|{head}|greedy", f"engine1|{head}|greedy"
        print(f"| `model.generate`, greedy, 1 stream, {head} (secondary) | {spread(baseline)} | baseline | |")
        print(
            f"| engine, greedy, 1 stream, {head} (secondary) | {spread(one)} | "
            f"{ratio(one, baseline, bold=False)} of generate | |"
        )
    for count in (1, streams):
        print(
            f"| filter (`SSEFilter`, {args.entries:,} entries), {count} stream{'s' if count > 1 else ''} "
            f"of {tokens} tokens, {head} | {statistics.median(filter_ms[count]):.1f} ms per run | "
            f"**{100 * statistics.median(shares[count]):.2f}%** of generation time | <= 2% |"
        )
    print(
        f"| `Redactor.stream()` alone, {streams} streams, {head} | | {100 * statistics.median(stream_only):.2f}% "
        f"of generation time | |"
    )
    print()
    print(f"Time per generated token outside / inside the model's forward, {head}, medians (ms):")
    print()
    print("| case | outside the forward | in the forward |")
    print("|---|---|---|")
    for name in runs:
        if name.split("|")[1] == head:
            case, _, mode = name.split("|")
            label = {"generate": "`model.generate`"}.get(case, f"engine, {case.removeprefix('engine')} stream(s)")
            print(f"| {label}, {mode} | {outside(name):.1f} | {forward(name):.1f} |")
    print()
    print(
        f"filter input: {tokens * CHARS_PER_TOKEN} characters per stream in {tokens} pieces; "
        f"{redacted} listed names redacted over all filter runs"
    )
    pieces = [count for run in runs[f"engine1|{head}|sample"] for count in run.pieces]
    batches = [run.mean_batch for run in runs[f"engine{streams}|{head}|sample"]]
    print(
        f"engine pieces per stream (random model, {head}): median {statistics.median(pieces):.0f} of "
        f"{tokens} tokens; mean batch size in the {streams}-stream runs: {statistics.fmean(batches):.1f}"
    )


if __name__ == "__main__":
    main()
