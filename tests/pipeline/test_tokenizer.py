"""``tokenizer: apertus``: the released tokenizer rebuilt byte for byte and verified, its fast counter
equal to ``tokenizers`` on any text, and ``tokens`` in a rebuild = the count of the text written."""

import hashlib
import json
import math
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from datatrove.data import Document
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apertus_compliance.errors import ApertusError
from apertus_compliance.pipeline import tokenizer as tokenizer_module
from apertus_compliance.pipeline.tokenizer import (
    APERTUS,
    APERTUS_SHA256,
    SPECIAL_TOKENS,
    AddedTokenCounter,
    TokenCounter,
    TokenizerError,
    apertus_tokenizer_file,
    cache_dir,
    load_tokenizer,
    token_counter,
    tokenizer_description,
)


@pytest.fixture(scope="module")
def released():
    """The released tokenizer as ``tokenizers`` loads it, and the fast counter over the same file."""
    path = apertus_tokenizer_file()
    return load_tokenizer(APERTUS, Path(".")), AddedTokenCounter(json.loads(path.read_bytes()))


def reference_count(tokenizer, text: str) -> int:
    return len(tokenizer.encode(text, add_special_tokens=False).ids)


# --------------------------------------------------------------------------------------------
# the released file, built and verified


def test_the_build_is_the_released_file_byte_for_byte():
    path = apertus_tokenizer_file()
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == APERTUS_SHA256 and len(data) == 17_078_480
    assert path.is_relative_to(cache_dir())  # the session's cache (tests/conftest.py), not the user's


def test_special_and_added_tokens_are_where_the_released_tokenizer_has_them(released):
    tokenizer, _ = released
    assert tokenizer.get_vocab_size() == 131_072
    assert [tokenizer.token_to_id(name) for name in ("<s>", "</s>", "\\begin{", "<|assistant_end|>")] == [1, 2, 14, 68]
    assert tokenizer.token_to_id("<SPECIAL_73>") == 73 and SPECIAL_TOKENS[999] == "<SPECIAL_999>"
    assert tokenizer.encode("Hallo").ids[0] == 1  # the post-processor adds <s>
    # \begin{ is added but not special: it survives decoding without special tokens, <s> does not
    ids = tokenizer.encode("<s>\\begin{x}", add_special_tokens=False).ids
    assert ids[:2] == [1, 14] and tokenizer.decode(ids, skip_special_tokens=True) == "\\begin{x}"


def test_a_cached_file_is_reused_and_a_damaged_one_rebuilt(monkeypatch, tmp_path):
    monkeypatch.setenv("APERTUS_CACHE_DIR", str(tmp_path))
    path = apertus_tokenizer_file()
    assert path.is_relative_to(tmp_path)

    def no_build(tekken):
        raise AssertionError("rebuilt although the cached file is good")

    with monkeypatch.context() as patch:
        patch.setattr(tokenizer_module, "build_apertus_tokenizer", no_build)
        assert apertus_tokenizer_file() == path
    path.write_bytes(path.read_bytes()[:-10])
    assert hashlib.sha256(apertus_tokenizer_file().read_bytes()).hexdigest() == APERTUS_SHA256


def test_a_build_that_does_not_match_is_an_error_naming_both_hashes(monkeypatch, tmp_path):
    monkeypatch.setenv("APERTUS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tokenizer_module, "build_apertus_tokenizer", lambda tekken: b'{"changed": true}')
    wrong = hashlib.sha256(b'{"changed": true}').hexdigest()
    with pytest.raises(TokenizerError, match=f"sha256 {wrong}.* has {APERTUS_SHA256}") as raised:
        load_tokenizer(APERTUS, tmp_path)
    assert isinstance(raised.value, ApertusError)
    assert not list(tmp_path.rglob("*.json"))  # nothing unverified is cached


def test_a_missing_tekken_file_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv("APERTUS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tokenizer_module, "TEKKEN_RESOURCE", "data/no-such-tekken.json")
    with pytest.raises(TokenizerError, match="data/no-such-tekken.json is not in the installed mistral-common"):
        apertus_tokenizer_file()


def test_the_cache_folder_follows_the_override_then_xdg_then_home(monkeypatch, tmp_path):
    monkeypatch.setenv("APERTUS_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("APERTUS_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "apertus-compliance"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "apertus-compliance"


def test_the_lock_records_the_tokenizer_and_where_it_was_built_from(tmp_path):
    described = tokenizer_description(APERTUS, tmp_path)
    assert described["name"] == APERTUS and described["kind"] == "apertus"
    assert described["sha256"] == APERTUS_SHA256
    assert described["built_from"]["package"] == "mistral-common" and described["built_from"]["version"] == "1.13.1"
    assert described["built_from"]["sha256"].startswith("eccd1665")
    assert "tiktoken" in described["counter"]
    assert tokenizer_description(None, tmp_path) == {"name": "utf8-bytes/4", "kind": "fallback"}


# --------------------------------------------------------------------------------------------
# the fast counter: the released tokenizer's counts


COUNTED = [
    "",
    "Hello world",
    "Grüezi mitenand, wie gaht's? Ça va très bien.",
    "Привет, как дела? Всё хорошо.",
    "東京は日本の首都です。北京是中国的首都。서울은 한국의 수도입니다.",
    "مرحبا بالعالم، كيف حالك؟ नमस्ते दुनिया, आप कैसे हैं?",
    "Family: 👨‍👩‍👧‍👦 flags 🇨🇭🇪🇺 skin 👍🏽 keycap 1️⃣",
    "tabs\tand\r\nwindows lines\n\n\n  trailing   \u00a0nbsp\u2028ls\u3000ideographic",
    "control \x00\x01\x1b[31m red \x7f\x85 end",
    "\\begin{equation} \\frac{a}{b} \\end{equation} \\text{x} \\boxed{42} \\begin \\begin{{",
    "<s>hello</s><pad><unk>[INST] do [/INST] <|user_start|>hi<|user_end|><SPECIAL_999>",
    "<SPECIAL_1000> <SPECIAL_99> <SPECIAL_074> <|user_start <pr><pr_status>",
    "<a [/INST] b> [<s>] <\\begin{> <<s>> [[/INST]] <div class='x'>\\end{x}</div>",
    '<html><head><meta charset="utf-8"><title>T</title></head><body><p>Hi &amp; bye</p></body></html>',
    "def f(x):\n    return {'a': [1, 2, 3]}  # comment\n\nif __name__ == '__main__':\n\tf(1)\n",
    "𝐀𝐁𝐂 𒀀𒀁 \ufeffbom \u200bzwsp \u202eRTL\u202c soft\u00adhyphen e\u0301 a\u0308\u0308\u0308",
    "12345678901234567890 3.14159 1,000,000 ١٢٣ ४५६",
    "a" * 5000,
    " " * 300 + "\n" * 40,
]


@pytest.mark.parametrize("text", COUNTED)
def test_fast_counts_equal_the_released_tokenizer(released, text):
    tokenizer, counter = released
    assert counter(text) == reference_count(tokenizer, text)


def test_added_tokens_inside_text_count_as_one_token_each(released):
    _, counter = released
    assert counter("<s>") == 1 and counter("\\begin{") == 1 and counter("<SPECIAL_500>") == 1
    assert counter("x<s>y") == counter("x") + 1 + counter("y")


FRAGMENTS = st.sampled_from(
    ["<", ">", "[", "]", "\\", "{", "<s>", "</s>", "[/INST]", "\\begin{", "\\end{", "<|user_start|>", "<SPECIAL_",
     "_999>", "<pr", "|>", "\r\n", " ", "\u00a0", "é", "👍🏽", "中文", "\x00"]
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.text(max_size=40), FRAGMENTS), max_size=12).map("".join))
def test_fast_counts_equal_the_released_tokenizer_on_any_text(released, text):
    tokenizer, counter = released
    assert counter(text) == reference_count(tokenizer, text)


def test_counters_are_loaded_once_per_process(tmp_path):
    assert token_counter(APERTUS, tmp_path) is token_counter(APERTUS, Path("."))
    fallback = token_counter(None, tmp_path)
    assert fallback("abcde") == math.ceil(5 / 4) and fallback("é") == 1


# --------------------------------------------------------------------------------------------
# the step and the rebuild: tokens of the text written


def test_the_written_count_follows_the_text_that_is_written(tmp_path):
    documents = [Document(text="abcd" * 10, id="same"), Document(text="abcd" * 10, id="masked")]
    read = list(TokenCounter(None, str(tmp_path)).run(iter(documents)))
    assert [document.metadata["tokens"] for document in read] == [10, 10]
    read[1].text = "ab"  # what masking or redaction does
    written = list(TokenCounter(None, str(tmp_path), written=True).run(iter(read)))
    assert [document.metadata["tokens"] for document in written] == [10, 1]
    assert all("counted_text" not in document.metadata for document in written)


def test_a_rebuild_counts_kept_documents_as_written_with_the_released_tokenizer(kit, released):
    tokenizer, _ = released
    rows = kit.web_rows(60, seed=11)
    for number, row in enumerate(rows[:20]):  # masked on the way: the written text differs from the read one
        row["text"] += f" Write to person{number}@example.org or \\begin{{x}} <s> 東京 👍🏽"
        row["text"] += " DROP" if number % 4 == 0 else ""  # removed by a recipe filter after masking
    kit.write_parquet("a.parquet", rows)
    dropped = {"id": "dropped", "step": "datatrove.pipeline.filters.RegexFilter", "args": {"regex_exp": "DROP"}}
    lock = kit.run(kit.write_recipe([{**_source(), "pii": True, "filters": [dropped]}], tokenizer=APERTUS))
    kept = [
        row
        for path in sorted((kit.root / "run" / "mixture").rglob("*.parquet"))
        for row in pq.read_table(path).to_pylist()
    ]
    removed = [
        row
        for path in sorted((kit.root / "run" / "removed").rglob("*.parquet"))
        for row in pq.read_table(path).to_pylist()
    ]
    masked = [row for row in kept if "example.org" not in row["text"] and "<s>" in row["text"]]
    assert masked and {row["reason"] for row in removed} > {"dropped"}  # opt-outs removed some too
    assert all("<email-pii>" in row["text"] for row in removed if row["reason"] == "dropped")
    assert [row["tokens"] for row in kept] == [reference_count(tokenizer, row["text"]) for row in kept]
    assert [row["tokens"] for row in removed] == [reference_count(tokenizer, row["text"]) for row in removed]
    assert lock["sources"]["web"]["tokens"]["kept"] == sum(row["tokens"] for row in kept)
    assert lock["tokenizer"]["sha256"] == APERTUS_SHA256


def _source() -> dict:
    return {"id": "web", "location": "sources/*.parquet", "format": "parquet", "target_tokens": 10**9}
