"""Streamed redaction grows linearly with the length of a stream, hostile streams included.

For each kind of stream (ordinary prose with listed names, the worst cases the filter used to hold
back without bound: space-separated numbers around a listed phone number, one endless word, a
listed first name repeated, phone groups that never end), the time per streamed character at
10k, 100k and 1M characters, fed as small chunks the way an engine emits tokens. Linear means
the 1M figure stays within 1.5x of the 10k one. Prose is drawn from a large generated vocabulary
(syllable words, numbers, punctuation, mixed scripts), so the token cache sees what it would see
on real text, not a handful of repeated words.

    python bench/stream_bench.py [--lengths 10000,100000,1000000] [--chunk 4]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import tempfile
import time
from pathlib import Path

from apertus_compliance.filters import DeletionList, Redactor, build_release, generate_keypair

LISTED = ["Hans Müller", "Łukasz Wróbel", "anna.muster@beispiel.de", "+41 79 123 45 67"]
SYLLABLES = (
    "ka lo mi ra sen tor vel an bri del fa gun hel jo mar nis ost pet qui rus sta ul ver wen xa yor zel ü é ß".split()
)
OTHER_SCRIPTS = ["Привет", "мир", "Ωμέγα", "東京都", "の", "データ", "안녕하세요", "مرحبا"]


def prose(rng: random.Random, length: int) -> str:
    words: list[str] = []
    size = 0
    while size < length:
        roll = rng.random()
        if roll < 0.002:
            word = rng.choice(LISTED)
        elif roll < 0.05:
            word = str(rng.randrange(10 ** rng.randint(1, 6)))
        elif roll < 0.08:
            word = rng.choice(OTHER_SCRIPTS)
        else:
            word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 4)))
        word += rng.choice([" ", " ", " ", " ", ", ", ". ", "\n"])
        words.append(word)
        size += len(word)
    return "".join(words)[:length]


def hostile(kind: str, length: int) -> str:
    if kind == "counting":
        text, number = [], 1
        while sum(map(len, text)) < length:
            text.append(f"{number} ")
            number += 1
        middle = len(text) // 2
        text[middle:middle] = ["+41 79 123 45 67 "]
        return "".join(text)[:length]
    if kind == "endless word":
        return "a" * length
    if kind == "listed first name repeated":
        return ("Hans " * (length // 5 + 1))[:length]
    if kind == "phone groups that never end":
        return ("41 79 123 45 " * (length // 13 + 1))[:length]
    raise ValueError(kind)


def stream_seconds(redactor: Redactor, text: str, chunk: int) -> float:
    stream = redactor.stream()
    started = time.perf_counter()
    for start in range(0, len(text), chunk):
        stream.feed(text[start : start + chunk])
    stream.close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", default="10000,100000,1000000")
    parser.add_argument("--chunk", type=int, default=4, help="characters per fed chunk (about one token)")
    args = parser.parse_args()
    lengths = [int(value) for value in args.lengths.split(",")]
    with tempfile.TemporaryDirectory(prefix="stream-bench-") as scratch:
        root = Path(scratch)
        generate_keypair(root / "keys")
        requests = root / "requests.csv"
        requests.write_text(
            "value,category,region\nHans Müller,name,\nŁukasz Wróbel,name,\n"
            "anna.muster@beispiel.de,email,\n+41 79 123 45 67,phone,CH\n",
            encoding="utf-8",
        )
        build_release(requests, root / "keys" / "private.key", root / "release", "bench-stream")
        listed = DeletionList.load(root / "release", root / "keys" / "public.key")
        redactors = {"list": Redactor(listed), "list + email pattern": Redactor(listed, patterns=["email"])}
        redactors["list"].redact(prose(random.Random(1), 20_000))  # warm imports and the token cache
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
            f"chunks of {args.chunk} characters"
        )
        print(
            "| stream | redactor | "
            + " | ".join(f"{length:,} chars: us/char" for length in lengths)
            + " | largest / smallest |"
        )
        print("|---|---|" + "---|" * len(lengths) + "---|")
        kinds = ["prose", "counting", "endless word", "listed first name repeated", "phone groups that never end"]
        for kind in kinds:
            for label, redactor in redactors.items():
                per_char = []
                for length in lengths:
                    text = prose(random.Random(length), length) if kind == "prose" else hostile(kind, length)
                    per_char.append(stream_seconds(redactor, text, args.chunk) / length * 1e6)
                print(
                    f"| {kind} | {label} | "
                    + " | ".join(f"{value:.2f}" for value in per_char)
                    + f" | {per_char[-1] / per_char[0]:.2f}x |"
                )


if __name__ == "__main__":
    main()
