"""Token counting: the rebuild's fast counter for ``tokenizer: apertus`` against ``tokenizers`` itself.

Both count the same documents without BOS/EOS: ``tokenizers`` with the released Apertus
``tokenizer.json`` (rebuilt and sha256-verified by ``pipeline.tokenizer``), ``encode_batch_fast``
on one thread (``RAYON_NUM_THREADS=1``, set before ``tokenizers`` loads); the fast counter
(``AddedTokenCounter``: added tokens split off, the rest counted by tiktoken over the same ranks)
one document at a time, as ``TokenCounter`` calls it. Every document's two counts must be equal.
Throughput is MB of UTF-8 text per CPU-second of this process (one thread each: per core).
Target (issue 14): the fast counter >= 3x ``encode_batch_fast``.

The documents: the bundled sample's texts and code, then generated ones up to ``--documents``,
each a random mix of segments: prose in 20 scripts (words drawn from the sample and built from
each script's letters, in every case pattern), HTML, LaTeX, Markdown, code in several languages,
JSON/CSV/URLs, emoji sequences (ZWJ, skin tones, flags, keycaps), numbers in several digit sets,
runs of odd whitespace, control and invisible characters, combining marks, astral-plane
characters, and the tokenizer's own added tokens and near misses written as text.

    python bench/token_bench.py [--documents 100000] [--seed 0] [--out bench/results/token.txt]
"""

from __future__ import annotations

import os

os.environ["RAYON_NUM_THREADS"] = "1"  # before tokenizers is imported: encode_batch_fast on one thread
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402
from importlib.metadata import version  # noqa: E402
from pathlib import Path  # noqa: E402

import pyarrow.parquet as pq  # noqa: E402

from apertus_compliance.paths import bundled_data  # noqa: E402
from apertus_compliance.pipeline.tokenizer import (  # noqa: E402
    APERTUS,
    SPECIAL_TOKENS,
    AddedTokenCounter,
    apertus_tokenizer_file,
    load_tokenizer,
)

SCRIPTS = {  # letters of each script (code point ranges), and whether words are separated by spaces
    "latin": ([(0x61, 0x7A), (0xE0, 0xFF), (0x100, 0x17F)], True),
    "vietnamese": ([(0x61, 0x7A), (0x1EA0, 0x1EF9)], True),
    "cyrillic": ([(0x430, 0x44F), (0x450, 0x45F), (0x490, 0x491)], True),
    "greek": ([(0x3B1, 0x3C9), (0x3AC, 0x3AF)], True),
    "armenian": ([(0x561, 0x586)], True),
    "georgian": ([(0x10D0, 0x10FA)], True),
    "hebrew": ([(0x5D0, 0x5EA)], True),
    "arabic": ([(0x621, 0x64A), (0x64B, 0x652)], True),
    "devanagari": ([(0x905, 0x939), (0x93E, 0x94D)], True),
    "bengali": ([(0x985, 0x9B9), (0x9BE, 0x9CD)], True),
    "tamil": ([(0xB85, 0xBB9), (0xBBE, 0xBCD)], True),
    "thai": ([(0xE01, 0xE2E), (0xE30, 0xE4E)], False),
    "ethiopic": ([(0x1200, 0x135A)], True),
    "hangul": ([(0xAC00, 0xD7A3)], True),
    "hiragana": ([(0x3041, 0x3096)], False),
    "katakana": ([(0x30A1, 0x30FA)], False),
    "cjk": ([(0x4E00, 0x9FFF)], False),
    "cjk-astral": ([(0x20000, 0x2A6DF)], False),
    "math-letters": ([(0x1D400, 0x1D6A5)], True),
    "fullwidth": ([(0xFF41, 0xFF5A), (0xFF21, 0xFF3A)], True),
}
PUNCTUATION = list(".,;:!?…—–-«»„“”‘’\"'()[]{}。、！？،؛।")
SPACES = [" ", " ", " ", "\t", "\n", "\r\n", "\r", "\n\n", "\u00a0", "\u3000", "\u2028", "\u2029", "\u2003", "\u202f"]
INVISIBLE = [
    "\u200b",
    "\u200c",
    "\u200d",
    "\u200e",
    "\u200f",
    "\u202a",
    "\u202e",
    "\u2066",
    "\u2069",
    "\ufeff",
    "\u00ad",
]
DIGITS = ["0123456789", "٠١٢٣٤٥٦٧٨٩", "०१२३४५६७८९", "０１２３４５６７８９", "¹²³⁴⁵⁶⁷⁸⁹⁰", "½¼¾⅓Ⅻⅳ"]
NEAR_MISSES = ["<SPECIAL_1000>", "<SPECIAL_07>", "<|user_start", "[INST]", "[/INST", "\\begin", "\\Begin{",
               "<<s>>", "<s >", "< s>", "\\\\begin{{", "<|image|>", "<pr_>", "[/TOOL_RESULTS]]", "<think/>"]  # fmt: skip
HTML_TAGS = ["div", "p", "span", "a", "li", "ul", "table", "td", "tr", "h1", "h2", "em", "strong", "script", "style"]
ENTITIES = ["&amp;", "&lt;", "&gt;", "&nbsp;", "&#8217;", "&#x1F600;", "&eacute;", "&quot;"]
LATEX_ENVS = ["equation", "align*", "itemize", "proof", "theorem", "pmatrix", "cases", "document"]
LATEX_COMMANDS = ["\\frac{a}{b}", "\\alpha", "\\sum_{i=1}^{n}", "\\int_0^\\infty", "\\sqrt{x}", "\\mathbb{R}",
                  "\\left(", "\\right)", "\\\\", "\\cdot", "\\label{eq:1}", "\\ref{sec}", "\\emph{x}"]  # fmt: skip
CODE_WORDS = ["def", "return", "if", "else", "for", "while", "class", "import", "from", "const", "let", "fn",
              "struct", "SELECT", "FROM", "WHERE", "int", "void", "self", "this", "None", "null", "true", "async"]  # fmt: skip


def sample_texts() -> list[str]:
    """The bundled sample's documents (web text in several languages, math, Wikipedia, code)."""
    texts = []
    for path in sorted((bundled_data() / "sample" / "sources").glob("*/*.parquet")):
        table = pq.read_table(path)
        column = "content" if "content" in table.column_names else "text"
        texts += [text for text in table.column(column).to_pylist() if text]
    return texts


class Generator:
    """Random documents of mixed segments; every choice comes from ``rng`` (same seed, same documents)."""

    def __init__(self, rng: random.Random, vocabulary: list[str]) -> None:
        self.rng = rng
        self.vocabulary = vocabulary
        self.segments = [
            (self.prose, 30),
            (self.html, 10),
            (self.latex, 8),
            (self.code, 10),
            (self.markdown, 5),
            (self.data, 5),
            (self.emoji, 5),
            (self.numbers, 4),
            (self.whitespace, 4),
            (self.odd, 6),
            (self.added_tokens, 5),
            (self.real_words, 8),
        ]

    def document(self) -> str:
        rng = self.rng
        functions, weights = zip(*self.segments, strict=True)
        target = int(10 ** rng.uniform(1.3, 3.8))  # 20 characters to 6 KB, log-uniform
        parts, size = [], 0
        while size < target:
            part = rng.choices(functions, weights)[0]()
            parts.append(part)
            size += len(part)
            if rng.random() < 0.5:
                parts.append(rng.choice(SPACES))
        return "".join(parts)

    def word(self, script: str) -> str:
        rng = self.rng
        ranges, _ = SCRIPTS[script]
        letters = [chr(rng.randint(*rng.choice(ranges))) for _ in range(rng.randint(1, 10))]
        word = "".join(letters)
        shape = rng.random()
        if shape < 0.15:
            return word.title()
        if shape < 0.2:
            return word.upper()
        if shape < 0.25 and len(word) > 3:
            return word[:2] + word[2:].capitalize()  # camelCase
        return word

    def prose(self) -> str:
        rng = self.rng
        script = rng.choice(list(SCRIPTS))
        spaced = SCRIPTS[script][1]
        words = []
        for _ in range(rng.randint(3, 60)):
            words.append(self.word(script) if rng.random() < 0.8 else rng.choice(self.vocabulary))
            if rng.random() < 0.12:
                words[-1] += rng.choice(PUNCTUATION)
        return (" " if spaced or rng.random() < 0.3 else "").join(words)

    def real_words(self) -> str:
        rng = self.rng
        words = [rng.choice(self.vocabulary) for _ in range(rng.randint(5, 80))]
        return " ".join(word.upper() if rng.random() < 0.03 else word for word in words)

    def html(self) -> str:
        rng = self.rng
        out = []
        if rng.random() < 0.2:
            out.append('<!DOCTYPE html><html lang="de"><head><meta charset="utf-8"><title>T</title></head><body>')
        for _ in range(rng.randint(1, 12)):
            tag = rng.choice(HTML_TAGS)
            attributes = rng.choice(
                ["", ' class="nav-item active"', ' href="/x?a=1&amp;b=2"', " id='m-3' data-x=\"{}\""]
            )
            inner = self.prose()[: rng.randint(5, 120)] if tag not in ("script", "style") else self.code()[:200]
            out.append(f"<{tag}{attributes}>{inner}{rng.choice(ENTITIES) if rng.random() < 0.3 else ''}</{tag}>")
            if rng.random() < 0.1:
                out.append("<!-- comment -->\n")
            if rng.random() < 0.3:
                out.append(rng.choice(["<br>", "<br/>", "<hr />", "<img src='a.png' alt=\"\">", "\n  "]))
        return "".join(out)

    def latex(self) -> str:
        rng = self.rng
        env = rng.choice(LATEX_ENVS)
        body = " ".join(rng.choice(LATEX_COMMANDS) for _ in range(rng.randint(1, 10)))
        extras = rng.choice(
            ["\\text{für alle } x", "\\boxed{42}", "$x^2 + y_1$", "% a comment\n", "\\textbf{Satz}", ""]
        )
        return f"\\begin{{{env}}}\n{body} {extras}\n\\end{{{env}}}" if rng.random() < 0.7 else f"${body}$ {extras}"

    def code(self) -> str:
        rng = self.rng
        lines = []
        indent = rng.choice(["    ", "  ", "\t"])
        for _ in range(rng.randint(1, 15)):
            depth = rng.randint(0, 3)
            words = [rng.choice(CODE_WORDS) for _ in range(rng.randint(1, 4))]
            name = "_".join(self.word("latin") for _ in range(rng.randint(1, 3)))
            tail = rng.choice(
                [f"({name}, 0x{rng.randint(0, 65535):04X}):", f" = {{'{name}': [1, 2.5e-3, None]}};",
                 f'("{name}\\n\\t%d", {rng.randint(0, 999)});', f" {name} -> Result<(), Box<dyn Error>> {{",
                 f"  # {self.prose()[:40]}", f" // TODO: {name}", f" WHERE {name} >= '2024-01-01';", "}"]
            )  # fmt: skip
            lines.append(indent * depth + " ".join(words) + tail)
        return "\n".join(lines) + "\n"

    def markdown(self) -> str:
        rng = self.rng
        return rng.choice(
            [f"# {self.prose()[:50]}\n\n", f"- [ ] {self.prose()[:60]}\n- **bold** _it_\n",
             f"| a | b |\n|---|---|\n| {rng.randint(0, 99)} | {self.word('latin')} |\n",
             f"[{self.word('latin')}](https://example.org/{self.word('latin')}?q=1#x)", f"```python\n{self.code()}```\n",
             f"> {self.prose()[:80]}\n"]
        )  # fmt: skip

    def data(self) -> str:
        rng = self.rng
        word = self.word("latin")
        return rng.choice(
            [json.dumps({word: [rng.random(), rng.randint(-9, 9999), None, True], "k": self.word("cyrillic")}),
             f"{word},{rng.randint(0, 9)},{rng.random():.4f},\"{self.word('greek')}\"\n",
             f"https://www.{word}.ch/path/{rng.randint(0, 9999)}/index.php?id={rng.randint(0, 99)}&lang=de",
             f"{word}.{self.word('latin')}@example.{rng.choice(['org', 'de', 'co.uk'])}",
             f"192.168.{rng.randint(0, 255)}.{rng.randint(0, 255)} 2001:db8::{rng.randint(0, 9999):x} ::1",
             f"C:\\Users\\{word}\\file.txt /usr/local/lib/{word}.so"]
        )  # fmt: skip

    def emoji(self) -> str:
        rng = self.rng
        out = []
        for _ in range(rng.randint(1, 8)):
            kind = rng.random()
            if kind < 0.4:
                out.append(chr(rng.randint(0x1F300, 0x1FAFF)))
            elif kind < 0.55:
                out.append(chr(rng.randint(0x1F466, 0x1F469)) + chr(rng.randint(0x1F3FB, 0x1F3FF)))
            elif kind < 0.7:
                out.append("\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466")
            elif kind < 0.85:
                out.append(chr(0x1F1E6 + rng.randint(0, 25)) + chr(0x1F1E6 + rng.randint(0, 25)))
            else:
                out.append(rng.choice("#*0123456789") + "\ufe0f\u20e3")
        return "".join(out)

    def numbers(self) -> str:
        rng = self.rng
        digits = rng.choice(DIGITS)
        number = "".join(rng.choice(digits) for _ in range(rng.randint(1, 24)))
        return rng.choice([number, f"{number}.{rng.randint(0, 99)}", f"{rng.randint(0, 10**9):,}", f"-{number}e10"])

    def whitespace(self) -> str:
        rng = self.rng
        return "".join(rng.choice(SPACES) * rng.randint(1, 6) for _ in range(rng.randint(1, 8)))

    def odd(self) -> str:
        rng = self.rng
        out = []
        for _ in range(rng.randint(1, 20)):
            kind = rng.random()
            if kind < 0.2:
                out.append(chr(rng.choice([*range(0x00, 0x20), *range(0x7F, 0xA0)])))
            elif kind < 0.35:
                out.append(rng.choice(INVISIBLE))
            elif kind < 0.5:
                out.append(
                    rng.choice("aeoAO") + "".join(chr(rng.randint(0x300, 0x36F)) for _ in range(rng.randint(1, 4)))
                )
            elif kind < 0.6:
                out.append(chr(rng.randint(0xE000, 0xF8FF)))  # private use
            elif kind < 0.7:
                out.append(chr(rng.choice([*range(0xFDD0, 0xFDF0), 0xFFFE, 0xFFFF, 0x1FFFE])))  # noncharacters
            elif kind < 0.8:
                out.append(chr(rng.randint(0x12000, 0x123FF)))  # cuneiform
            elif kind < 0.9:
                out.append(chr(rng.randint(0x2500, 0x28FF)))  # box drawing, arrows, braille
            else:
                out.append(chr(rng.randint(0xE0020, 0xE007F)))  # tag characters
        return "".join(out)

    def added_tokens(self) -> str:
        rng = self.rng
        out = []
        for _ in range(rng.randint(1, 6)):
            choice = rng.random()
            if choice < 0.5:
                out.append(rng.choice(SPECIAL_TOKENS[:74]))
            elif choice < 0.65:
                out.append(rng.choice(SPECIAL_TOKENS))
            else:
                out.append(rng.choice(NEAR_MISSES))
            if rng.random() < 0.5:
                out.append(self.word(rng.choice(["latin", "cyrillic", "cjk"])))
        return "".join(out)


def documents(count: int, seed: int) -> list[str]:
    texts = sample_texts()
    vocabulary = sorted({word for text in texts[:2000] for word in text.split() if len(word) < 30})
    generator = Generator(random.Random(seed), vocabulary)
    return (texts + [generator.document() for _ in range(max(0, count - len(texts)))])[:count]


def cpu_seconds(function) -> tuple[float, float, object]:
    """(CPU seconds of this process, wall seconds, result)."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = function()
    return time.process_time() - cpu, time.perf_counter() - wall, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=1000, help="documents per encode_batch_fast call")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "token.txt")
    arguments = parser.parse_args()

    build_cpu, build_wall, path = cpu_seconds(apertus_tokenizer_file)
    tokenizer = load_tokenizer(APERTUS, Path("."))
    load_cpu, load_wall, counter = cpu_seconds(lambda: AddedTokenCounter(json.loads(path.read_bytes())))
    generate_wall = time.perf_counter()
    texts = documents(arguments.documents, arguments.seed)
    generate_wall = time.perf_counter() - generate_wall
    megabytes = sum(len(text.encode("utf-8")) for text in texts) / 1e6

    def reference() -> list[int]:
        counts = []
        for start in range(0, len(texts), arguments.batch):
            encodings = tokenizer.encode_batch_fast(texts[start : start + arguments.batch], add_special_tokens=False)
            counts += [len(encoding.ids) for encoding in encodings]
        return counts

    slow_cpu, slow_wall, expected = cpu_seconds(reference)
    fast_cpu, fast_wall, counted = cpu_seconds(lambda: [counter(text) for text in texts])
    different = [number for number, (a, b) in enumerate(zip(expected, counted, strict=True)) if a != b]
    with_added = sum(1 for text in texts if counter.candidates.search(text) is not None)
    lines = [
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"tokenizers {version('tokenizers')}, tiktoken {version('tiktoken')}, mistral-common {version('mistral-common')}",
        f"tokenizer: {path} (cache; build or verify {build_wall:.2f} s wall, {build_cpu:.2f} s CPU); "
        f"fast counter load {load_wall:.2f} s",
        f"documents: {len(texts):,} ({megabytes:.1f} MB UTF-8, seed {arguments.seed}; generated in {generate_wall:.1f} s), "
        f"{with_added:,} with an added-token candidate ('<...>', '[...]', '\\begin{{'...)",
        f"tokens: {sum(expected):,} (tokenizers) / {sum(counted):,} (fast)",
        f"tokenizers encode_batch_fast, 1 thread: {megabytes / slow_cpu:.2f} MB/s per core "
        f"({slow_cpu:.1f} CPU-s, {slow_wall:.1f} s wall)",
        f"fast counter (tiktoken + added-token split): {megabytes / fast_cpu:.2f} MB/s per core "
        f"({fast_cpu:.1f} CPU-s, {fast_wall:.1f} s wall)",
        f"ratio: {slow_cpu / fast_cpu:.2f}x (target >= 3x)",
        f"documents with different counts: {len(different)} of {len(texts):,}",
    ]
    for number in different[:5]:
        lines.append(f"  differs: {texts[number][:120]!r}: {expected[number]} vs {counted[number]}")
    report = "\n".join(lines)
    print(report)
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(report + "\n", encoding="utf-8")
    if different:
        raise SystemExit(f"{len(different)} documents counted differently")


if __name__ == "__main__":
    main()
