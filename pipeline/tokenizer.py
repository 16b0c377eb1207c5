"""Token counting for the rebuild: what a recipe's ``tokenizer:`` names, and the step that counts.

``tokenizer: apertus`` is the released Apertus tokenizer (Apertus-8B-2509, -Instruct-2509 and the
70B share one ``tokenizer.json``). It is rebuilt offline, byte for byte, from Mistral's tekken v3
file in the ``mistral-common`` wheel, checked against the published sha256 before any use and
cached in the user's cache folder; a mismatch is an error, never a silent fallback. It is counted
by ``AddedTokenCounter`` (tiktoken over the same ranks, after splitting off the added tokens the
way ``tokenizers`` does), which gives the released tokenizer's counts several times faster
(``bench/token_bench.py``). A tokenizer.json path or a hub id is counted by ``tokenizers`` itself;
no tokenizer counts ``ceil(UTF-8 bytes / 4)``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import math
import os
import re
from collections.abc import Callable
from importlib.metadata import version
from importlib.resources import files
from pathlib import Path

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from apertus_compliance.errors import ApertusError
from apertus_compliance.pipeline.recipe import FALLBACK_TOKENIZER, RecipeError

__all__ = [
    "APERTUS",
    "APERTUS_SHA256",
    "AddedTokenCounter",
    "TokenCounter",
    "TokenizerError",
    "apertus_tokenizer_file",
    "build_apertus_tokenizer",
    "cache_dir",
    "load_tokenizer",
    "token_counter",
    "tokenizer_description",
]

APERTUS = "apertus"
"""The recipe name of the released Apertus tokenizer."""
APERTUS_SHA256 = "bb201fb226cde11f66c3cf51c5344fb37b1611f00c21e75c324546d854eff2e1"
"""sha256 of the released ``tokenizer.json`` (swiss-ai/Apertus-8B-2509 @ 3162c996, pinned in
swiss-ai/apertus-omni-tokenizer ``omnitok/registry.py``)."""
TEKKEN_PACKAGE = "mistral-common"
TEKKEN_RESOURCE = "data/tekken_240718.json"
"""Mistral's tekken v3 vocabulary inside the ``mistral_common`` package (Apache-2.0)."""
CACHE_DIR_VARIABLE = "APERTUS_CACHE_DIR"

_NAMED_SPECIAL = (
    "<unk> <s> </s> <pad> [/INST] [AVAILABLE_TOOLS] [/AVAILABLE_TOOLS] [TOOL_RESULTS] [/TOOL_RESULTS] "
    "[TOOL_CALLS] <SPECIAL_10> [PREFIX] [MIDDLE] [SUFFIX] \\begin{ \\end{ \\text{ \\boxed{ <filename> "
    "<gh_stars> <issue_start> <issue_comment> <issue_closed> <jupyter_start> <jupyter_text> "
    "<jupyter_code> <jupyter_output> <empty_output> <commit_before> <commit_msg> <commit_after> "
    "<reponame> <think> </think> <answer> </answer> <iban-pii> <email-pii> <ip-pii> <file_sep> "
    "<code_to_intermediate> <intermediate_to_code> <pr> <pr_status> <pr_is_merged> <pr_base> <pr_file> "
    "<pr_base_code> <pr_diff> <pr_diff_hunk> <pr_comment> <pr_event_id> <pr_review> <pr_review_state> "
    "<pr_review_comment> <pr_in_reply_to_review_id> <pr_in_reply_to_comment_id> "
    "<pr_diff_hunk_comment_line> <|fim_begin|> <|fim_hole|> <|fim_end|> <|system_start|> <|system_end|> "
    "<|developer_start|> <|developer_end|> <|user_start|> <|user_end|> <|assistant_start|> "
    "<|assistant_end|> <|inner_prefix|> <|inner_suffix|> <|tools_prefix|> <|tools_suffix|>"
).split()
SPECIAL_TOKENS = tuple(_NAMED_SPECIAL + [f"<SPECIAL_{i}>" for i in range(len(_NAMED_SPECIAL), 1000)])
"""Ids 0-999 of the released tokenizer, in id order."""
NOT_SPECIAL = range(14, 18)
"""``\\begin{`` ``\\end{`` ``\\text{`` ``\\boxed{``: added tokens that are not special (kept on decode)."""


class TokenizerError(ApertusError, ValueError):
    """A tokenizer that cannot be built or does not match its published hash."""


def cache_dir() -> Path:
    """Where built files are kept: ``$APERTUS_CACHE_DIR``, else ``$XDG_CACHE_HOME/apertus-compliance``,
    else ``~/.cache/apertus-compliance``."""
    root = os.environ.get(CACHE_DIR_VARIABLE)
    if root:
        return Path(root).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache") / "apertus-compliance"


def _tekken_file() -> Path:
    path = Path(str(files("mistral_common") / TEKKEN_RESOURCE))
    if not path.is_file():
        raise TokenizerError(
            f"tokenizer {APERTUS}: {TEKKEN_RESOURCE} is not in the installed {TEKKEN_PACKAGE} "
            f"{version(TEKKEN_PACKAGE)} ({path}); install {TEKKEN_PACKAGE} 1.13.1"
        )
    return path


@functools.cache
def _byte_to_unicode() -> dict[int, str]:
    """GPT-2's byte-level alphabet: every byte as a printable character, as ``ByteLevel`` maps it."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    others = [byte for byte in range(256) if byte not in printable]
    return {byte: chr(byte) for byte in printable} | {byte: chr(256 + n) for n, byte in enumerate(others)}


def build_apertus_tokenizer(tekken: Path) -> bytes:
    """The released ``tokenizer.json``, byte for byte, from tekken's ranks (see FACTS.md).

    Vocabulary: the 1,000 special ids, then tekken's first 130,072 byte tokens (id = rank + 1000).
    Merges: for each token by rank, every split whose halves are both tokens, by the halves' ranks.
    BPE with ``ignore_merges``; Split on tekken's pattern, then ByteLevel; ``<s> $A``.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, pre_tokenizers, processors
    from tokenizers.models import BPE

    tekken_json = json.loads(tekken.read_bytes())
    inner = tekken_json["config"]["default_vocab_size"] - len(SPECIAL_TOKENS)
    ranks = [base64.b64decode(entry["token_bytes"]) for entry in tekken_json["vocab"][:inner]]
    rank_of = {token: rank for rank, token in enumerate(ranks)}
    alphabet = _byte_to_unicode()

    def as_text(token: bytes) -> str:
        return "".join(alphabet[byte] for byte in token)

    vocab = {name: token_id for token_id, name in enumerate(SPECIAL_TOKENS)}
    merges = []
    for rank, token in enumerate(ranks):
        vocab[as_text(token)] = rank + len(SPECIAL_TOKENS)
        halves = [(token[:cut], token[cut:]) for cut in range(1, len(token))]
        halves = [pair for pair in halves if pair[0] in rank_of and pair[1] in rank_of]
        merges += sorted(halves, key=lambda pair: (rank_of[pair[0]], rank_of[pair[1]]))
    tokenizer = Tokenizer(
        BPE(vocab, [(as_text(left), as_text(right)) for left, right in merges], fuse_unk=False, ignore_merges=True)
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(tekken_json["config"]["pattern"]), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_tokens([AddedToken(SPECIAL_TOKENS[i], special=False, normalized=False) for i in NOT_SPECIAL])
    tokenizer.add_special_tokens(
        [
            AddedToken(name, special=True, normalized=False)
            for i, name in enumerate(SPECIAL_TOKENS)
            if i not in NOT_SPECIAL
        ]
    )
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s>:1 $B:1", special_tokens=[("<s>", 1), ("</s>", 2)]
    )
    return tokenizer.to_str(pretty=True).encode("utf-8")


def apertus_tokenizer_file() -> Path:
    """The verified released ``tokenizer.json``, built into the cache on first use.

    A cached file is re-hashed on every call (about 30 ms) and rebuilt when it does not match; a
    build that does not match is a ``TokenizerError`` naming both hashes.
    """
    path = cache_dir() / "tokenizers" / f"apertus-{APERTUS_SHA256[:16]}" / "tokenizer.json"
    if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == APERTUS_SHA256:
        return path
    tekken = _tekken_file()
    built = build_apertus_tokenizer(tekken)
    digest = hashlib.sha256(built).hexdigest()
    if digest != APERTUS_SHA256:
        raise TokenizerError(
            f"tokenizer {APERTUS}: built from {tekken} ({TEKKEN_PACKAGE} {version(TEKKEN_PACKAGE)}) it has "
            f"sha256 {digest}, the released tokenizer.json has {APERTUS_SHA256}; refusing to count with it"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # workers may build at once
    try:
        temporary.write_bytes(built)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def _tokenizer_path(name: str, folder: Path) -> Path:
    return (folder / name) if not Path(name).is_absolute() else Path(name)


def load_tokenizer(name: str | None, folder: Path) -> object | None:
    """A ``tokenizers.Tokenizer``: ``apertus``, a tokenizer.json (relative to ``folder``) or a hub id.

    ``None`` means the fallback counter. A named tokenizer that cannot be loaded is an error:
    falling back silently would change every count and so the sample.
    """
    if name is None:
        return None
    from tokenizers import Tokenizer

    if name == APERTUS:
        return Tokenizer.from_file(str(apertus_tokenizer_file()))
    path = _tokenizer_path(name, folder)
    if path.is_file():
        return Tokenizer.from_file(str(path))
    if path.suffix == ".json":
        raise RecipeError(f"tokenizer {name}: no such file ({path})")
    try:
        return Tokenizer.from_pretrained(name)
    except Exception as error:  # the hub client raises many kinds; all mean "not available here"
        raise RecipeError(
            f"tokenizer {name}: cannot load it from the hub ({error}); set `tokenizer: null` "
            f"to count with the fallback ({FALLBACK_TOKENIZER})"
        ) from error


def tokenizer_description(name: str | None, folder: Path) -> dict:
    """What the lock records about the token counter."""
    if name is None:
        return {"name": FALLBACK_TOKENIZER, "kind": "fallback"}
    if name == APERTUS:
        import tiktoken

        return {
            "name": APERTUS,
            "kind": "apertus",
            "sha256": APERTUS_SHA256,
            "version": "Apertus v1 (swiss-ai/Apertus-8B-2509)",
            "built_from": {
                "package": TEKKEN_PACKAGE,
                "version": version(TEKKEN_PACKAGE),
                "file": f"mistral_common/{TEKKEN_RESOURCE}",
                "sha256": hashlib.sha256(_tekken_file().read_bytes()).hexdigest(),
            },
            "counter": f"tiktoken {tiktoken.__version__} over the same ranks, added tokens split first",
        }
    path = _tokenizer_path(name, folder)
    if path.is_file():
        return {"name": name, "kind": "file", "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    return {"name": name, "kind": "hub"}


class AddedTokenCounter:
    """Counts, on tiktoken, exactly the tokens ``tokenizers`` encodes (without BOS/EOS) with the released
    Apertus file: byte-level BPE with ``ignore_merges`` and merges derived from ranks, no normalizer,
    a Split pre-tokenizer, plain added tokens (no lstrip/rstrip/single_word).

    ``tokenizers`` first cuts the text at its added tokens (leftmost, then longest match: special
    tokens such as ``<s>`` written in a document count too), each one token; the pieces between go
    through the Split pattern and BPE. tiktoken does the same per piece with the same pattern and
    ranks (a piece in the vocabulary is one token, as ``ignore_merges`` does; otherwise the lowest-
    ranked pair merges first, the order the file's rank-derived merges encode). Proven equal on
    100,000 documents by ``bench/token_bench.py`` and on arbitrary text by the tests.
    """

    def __init__(self, tokenizer_json: dict) -> None:
        import tiktoken

        added = {entry["id"]: entry["content"] for entry in tokenizer_json["added_tokens"]}
        from_alphabet = {char: byte for byte, char in _byte_to_unicode().items()}
        ranks = {
            bytes(from_alphabet[char] for char in token): token_id
            for token, token_id in tokenizer_json["model"]["vocab"].items()
            if token_id not in added
        }
        pattern = tokenizer_json["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"]
        self.encoding = tiktoken.Encoding("tokenizer-json", pat_str=pattern, mergeable_ranks=ranks, special_tokens={})
        self.added = frozenset(added.values())
        self.first_chars = frozenset(token[0] for token in self.added)
        self.candidates = _added_token_candidates(self.added)

    def __call__(self, text: str) -> int:
        encode = self.encoding.encode_ordinary
        if not any(char in text for char in self.first_chars):
            return len(encode(text))
        count = start = position = 0
        search = self.candidates.search
        while (match := search(text, position)) is not None:
            if match.group() not in self.added:  # an HTML tag, a [citation]: look inside it again
                position = match.start() + 1
                continue
            if match.start() > start:
                count += len(encode(text[start : match.start()]))
            count += 1
            start = position = match.end()
        return count + (len(encode(text[start:])) if start < len(text) else 0)


_TAG_SHAPES = {"<": r"<[^<>]*>", "[": r"\[[^\[\]]*\]"}


def _added_token_candidates(tokens: frozenset[str]) -> re.Pattern:
    """One regex whose match at a position is the only added token that can start there.

    An alternation of 1,000 literals costs 12x tiktoken's time on HTML; instead every token that
    starts with ``<`` (``[``) has the shape ``<[^<>]*>`` (``[...]``), so at a ``<`` the one candidate
    runs to the next ``>``, and a set lookup decides. Other tokens are literals, longest first.
    """
    literals = sorted((token for token in tokens if token[0] not in _TAG_SHAPES), key=len, reverse=True)
    for first, shape in _TAG_SHAPES.items():
        odd = [token for token in tokens if token[0] == first and not re.fullmatch(shape, token)]
        if odd:
            raise TokenizerError(f"added tokens {odd[:3]} do not have the shape {shape} the fast counter needs")
    return re.compile("|".join([*_TAG_SHAPES.values(), *map(re.escape, literals)]))


def _utf8_quarter(text: str) -> int:
    return math.ceil(len(text.encode("utf-8")) / 4)


_COUNTERS: dict[tuple, Callable[[str], int]] = {}


def token_counter(name: str | None, folder: Path) -> Callable[[str], int]:
    """``text -> tokens`` for a recipe's ``tokenizer:``, loaded once per process (keyed by name and
    sha256), so every task a worker runs shares it."""
    if name is None:
        return _utf8_quarter
    if name == APERTUS:
        key = (APERTUS, APERTUS_SHA256)
    else:
        path = _tokenizer_path(name, folder)
        key = (str(path.resolve()), hashlib.sha256(path.read_bytes()).hexdigest()) if path.is_file() else (name,)
    if key not in _COUNTERS:
        if name == APERTUS:
            _COUNTERS[key] = AddedTokenCounter(json.loads(apertus_tokenizer_file().read_bytes()))
        else:
            tokenizer = load_tokenizer(name, folder)
            _COUNTERS[key] = lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)
    return _COUNTERS[key]


class TokenCounter(PipelineStep):
    """Sets ``metadata["tokens"]``, without BOS/EOS.

    Placed twice: after the reader (``written=False``), so documents removed before masking carry
    the count of their text as read; and after masking and redaction (``written=True``), where a
    document whose text changed is counted again, so later rows, kept ones included, carry the
    count of the text written. The first count remembers its text (``metadata["counted_text"]``, a
    reference, not a copy) to make the second a comparison; the second removes it.
    """

    name = "🔢 Token counter"
    type = "🔢 - TOKENS"

    def __init__(self, tokenizer_name: str | None, folder: str, written: bool = False) -> None:
        super().__init__()
        self.tokenizer_name = tokenizer_name
        self.folder = folder
        self.written = written

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        count = token_counter(self.tokenizer_name, Path(self.folder))
        total = 0
        for document in data:
            counted = document.metadata.pop("counted_text", None)
            if not (self.written and counted == document.text and "tokens" in document.metadata):
                document.metadata["tokens"] = count(document.text)
            if not self.written:
                document.metadata["counted_text"] = document.text
            total += document.metadata["tokens"]
            yield document
        self.stat_update("tokens", value=total)
