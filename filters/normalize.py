"""How entries and generated text become comparable token sequences.

Normalization version 1: both sides are cut into word tokens (Unicode letters, digits, marks;
punctuation ignored), and each token is NFKC-normalized and case-folded. Entries are expanded
into variants when they are built (with and without diacritics, German transliteration
``ü -> ue``), so the text side needs one form per token and stays fast. Phone numbers compare as
digit strings.

Normalization version 2 (``text_streams``, ``entry_sequences``) also holds against text written
to slip past: invisible characters are dropped, Cyrillic and Greek look-alike letters folded to
Latin, markup and character references neutralised, every token folded to one ASCII-leaning
form (diacritics stripped, ``ł ø þ æ đ`` spelled in ASCII), Han, kana and Hangul cut one token
per character, obfuscated emails and phones in every writing matched. The text side yields one or
more token streams of the same text, each with offsets into the original text, so what gets
redacted is always the original.
"""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote

import numpy as np
import regex

NORMALIZATION_VERSION = 2
"""The version new releases are built with."""
SUPPORTED_NORMALIZATION_VERSIONS = (1, 2)
"""Versions a loader accepts (older releases stay readable and are matched as they were built)."""
TOKEN = regex.compile(r"\w+")
"""``regex``'s ``\\w`` includes combining marks, so a decomposed ``u + U+0308`` stays one token."""
TRANSLITERATION = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "æ": "ae", "ø": "oe", "å": "aa"})
PHONE_SEPARATORS = frozenset(" -./()+\u00a0")


def normal_token(token: str) -> str:
    if token.isascii():  # NFKC leaves ASCII alone and casefold is lower(): the common case, 5x faster
        return token.lower()
    return unicodedata.normalize("NFKC", token).casefold()


def tokens_with_spans(text: str) -> list[tuple[str, int, int]]:
    """Normalized tokens of ``text`` with their character spans in ``text`` itself."""
    return [(normal_token(match.group()), match.start(), match.end()) for match in TOKEN.finditer(text)]


def strip_diacritics(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFC", "".join(char for char in decomposed if not unicodedata.combining(char)))


def entry_variants(value: str) -> list[tuple[str, ...]]:
    """Token sequences under which a name, address, email or other entry is listed."""
    base = tuple(token for token, _, _ in tokens_with_spans(value))
    if not base:
        return []
    variants = {base}
    for transform in (strip_diacritics, lambda token: strip_diacritics(token.translate(TRANSLITERATION))):
        variants.add(tuple(transform(token) for token in base))
    return sorted(variants)


def phone_variants(value: str, region: str | None = None) -> list[str]:
    """Digit strings under which a phone number is listed: as written, E.164 (without ``+``) and
    national with its trunk prefix, where ``phonenumbers`` can tell the country."""
    import phonenumbers

    digits = "".join(char for char in value if char.isdigit())
    variants = {digits} if digits else set()
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return sorted(variants)
    for style in (phonenumbers.PhoneNumberFormat.E164, phonenumbers.PhoneNumberFormat.NATIONAL):
        formatted = "".join(char for char in phonenumbers.format_number(number, style) if char.isdigit())
        if formatted:
            variants.add(formatted)
    return sorted(variants)


def digit_runs(text: str, spans: list[tuple[str, int, int]], longest: int) -> Iterator[tuple[str, int, int, int, int]]:
    """Windows of 2..``longest`` consecutive digit tokens joined only by phone separators, as
    ``(digits, first_token, last_token, start, end)``: ``+41 44 668 18 00`` is also ``41446681800``."""
    run_start = None
    for index, (token, start, _) in enumerate(spans + [("", len(text), len(text))]):
        joined = (
            index < len(spans)
            and token.isdigit()
            and run_start is not None
            and set(text[spans[index - 1][2] : start]) <= PHONE_SEPARATORS
        )
        if joined:
            continue
        if run_start is not None and index - run_start >= 2:
            for first in range(run_start, index - 1):
                digits = spans[first][0]
                for last in range(first + 1, min(index, first + longest)):
                    digits += spans[last][0]
                    yield digits, first, last, spans[first][1], spans[last][2]
        run_start = index if index < len(spans) and token.isdigit() else None


# --------------------------------------------------------------------------------------------
# normalization version 2


_CJK = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}"
_JAMO_SYLLABLE = r"[\u1100-\u115f\ua960-\ua97c]+[\u1160-\u11a7\ud7b0-\ud7c6]+[\u11a8-\u11ff\ud7cb-\ud7fb]*"
TOKEN_V2 = regex.compile(rf"(?:{_JAMO_SYLLABLE}|[{_CJK}])\p{{M}}*|[^\W_{_CJK}]+")
"""Word tokens without ``_`` (markdown emphasis and ``snake_case`` separate words); Han and kana,
written without spaces, are one token per character (with its combining marks), and so is
Hangul, whose particles are written onto the name (``김민수가``; a syllable spelled in
conjoining jamo is one character too)."""
IGNORABLE = regex.compile(r"\p{Default_Ignorable_Code_Point}+")
"""Zero-width characters, soft hyphens, word joiners, bidi controls, variation selectors, tags:
invisible, so removed before anything else (the original text keeps them and is redacted whole)."""
CONFUSABLE_LETTERS = str.maketrans(
    dict(
        zip(
            *[
                iter(
                    # Cyrillic and Greek letters (Lu, Ll) whose prototype in Unicode's confusables.txt (UTS #39,
                    # Unicode 15.1 data as shipped in the confusable-homoglyphs 3.3.1 package) is one ASCII letter,
                    # as (letter, prototype) pairs. Changed from the data: the capital I look-alikes (GREEK CAPITAL
                    # IOTA, CYRILLIC BYELORUSSIAN-UKRAINIAN I, PALOCHKA) fold to "I", not "l": text is casefolded,
                    # and their small forms fold to "i".
                    "\u037fJ\u0391A\u0392B\u0395E\u0396Z\u0397H\u0399I\u039aK\u039cM\u039dN\u039fO\u03a1P\u03a4T"
                    "\u03a5Y\u03a7X\u03b1a\u03b3y\u03b9i\u03bdv\u03bfo\u03c1p\u03c3o\u03c5u\u03d2Y\u03dcF\u03f1p"
                    "\u03f2c\u03f3j\u03f9C\u03faM\u0405S\u0406I\u0408J\u0410A\u0412B\u0415E\u041aK\u041cM\u041dH"
                    "\u041eO\u0420P\u0421C\u0422T\u0423Y\u0425X\u042cb\u0430a\u0433r\u0435e\u043eo\u0440p\u0441c"
                    "\u0443y\u0445x\u0455s\u0456i\u0458j\u0461w\u0474V\u0475v\u04aeY\u04afy\u04bbh\u04bde\u04c0I"
                    "\u04cfi\u0501d\u050cG\u051bq\u051cW\u051dw\u1d26r\u1fbei\ua647i"
                )
            ]
            * 2,
            strict=True,
        )
    )
)
ASCII_FOLDING = str.maketrans(
    {
        # Latin letters without a canonical decomposition, as Lucene's ASCIIFoldingFilter writes them
        "ł": "l",
        "ø": "o",
        "þ": "th",
        "æ": "ae",
        "đ": "d",
        "ð": "d",
        "ß": "ss",
        "œ": "oe",
        "ı": "i",
        "ħ": "h",
        "ŧ": "t",
        "ĸ": "k",
        "ŋ": "n",
        "ƀ": "b",
        "ɓ": "b",
        "ƈ": "c",
        "ɗ": "d",
        "ɖ": "d",
        "ƒ": "f",
        "ɠ": "g",
        "ǥ": "g",
        "ɦ": "h",
        "ɨ": "i",
        "ƙ": "k",
        "ƚ": "l",
        "ɫ": "l",
        "ɬ": "l",
        "ɱ": "m",
        "ɲ": "n",
        "ƞ": "n",
        "ɵ": "o",
        "ƥ": "p",
        "ʠ": "q",
        "ɍ": "r",
        "ɽ": "r",
        "ʂ": "s",
        "ƫ": "t",
        "ƭ": "t",
        "ʈ": "t",
        "ʉ": "u",
        "ʋ": "v",
        "ƴ": "y",
        "ɏ": "y",
        "ƶ": "z",
        "ȥ": "z",
        "ʐ": "z",
        "ʑ": "z",
        "ə": "e",
        "ǝ": "e",
        "ɛ": "e",
        "ɔ": "o",
        "ɑ": "a",
        "ʒ": "z",
    }
)
TRANSLITERATION_CASED = str.maketrans(
    {
        "ä": "ae",
        "ö": "oe",
        "ü": "ue",
        "ß": "ss",
        "æ": "ae",
        "ø": "oe",
        "å": "aa",
        "Ä": "Ae",
        "Ö": "Oe",
        "Ü": "Ue",
        "Æ": "Ae",
        "Ø": "Oe",
        "Å": "Aa",
    }
)
OBFUSCATION_WORDS = frozenset({"at", "dot", "punkt", "point"})
"""Words that stand for ``@`` and ``.`` in obfuscated emails (``anna dot muster (at) beispiel dot de``)."""
PHONE_SEPARATORS_V2 = frozenset(
    PHONE_SEPARATORS
    | set(
        "\t\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u3000"
        "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\uff08\uff09\uff0b\uff0d\uff0e\uff0f"
    )
)
"""Between the digit groups of a phone number: also narrow and thin spaces, tabs, en and em
dashes, minus, and the full-width forms."""
TAG_LOOKBACK = 256
"""The longest HTML tag (or comment) recognized; a ``<`` further back than this is plain text."""
REFERENCE_LOOKBACK = 12
"""The longest character reference recognized: ``&`` and a name of up to 11 letters (``&nbsp``,
``&uuml``), or a number (``&#1114111``, ``&#x10FFFF``)."""
STABLE_LOOKBACK = 512
"""The most ``stable_prefix`` holds back: a few tags, references or invisible characters in a row."""
FOLD_CACHE_SIZE = 100_000

_MARKUP = regex.compile(
    r"(?P<ignorable>\p{Default_Ignorable_Code_Point}+)"
    r"|(?P<tag></?[A-Za-z][A-Za-z0-9:-]{0,31}(?:[\s/][^<>]{0,200})?>|<!--[^<>]{0,200}?-->)"
    r"|(?P<reference>&(?:#[0-9]{1,7};?|#[xX][0-9A-Fa-f]{1,6};?|[A-Za-z][A-Za-z0-9]{1,10};?))"
    r"|(?P<percent>(?:%[0-9A-Fa-f]{2})+)"
    r"|(?P<emphasis>[*_~`]+)"
)
_TAG = regex.compile(r"</?[A-Za-z][A-Za-z0-9:-]{0,31}(?:[\s/][^<>]{0,200})?>|<!--[^<>]{0,200}?-->")
_PARTIAL_TAG = regex.compile(r"<(?:/|/?[A-Za-z!][^<>]*)?")
_REFERENCE = regex.compile(r"&(?:#[0-9]{0,7}|#[xX][0-9A-Fa-f]{0,6}|[A-Za-z][A-Za-z0-9]{0,10})?;?")
_TRAILING_PERCENT = regex.compile(r"(?:%[0-9A-Fa-f]{2}){0,4}(?:%[0-9A-Fa-f]?)?\Z")
_TRAILING_JOINERS = regex.compile(r"(?r)[*_~`\p{Default_Ignorable_Code_Point}]+\Z")
_NOT_WORD = regex.compile(r"[\W_]+")
_WORD_V2 = regex.compile(r"[^\W_]+")
_CJK_CHARACTER = regex.compile(rf"[{_CJK}]")
_FOLDED: dict[str, str] = {}


def _without_marks(text: str) -> str:
    return "".join(char for char in text if not unicodedata.combining(char))


def _fold(token: str) -> str:
    text = _without_marks(unicodedata.normalize("NFKD", token)).translate(CONFUSABLE_LETTERS).casefold()
    text = _without_marks(unicodedata.normalize("NFKD", text)).translate(CONFUSABLE_LETTERS).translate(ASCII_FOLDING)
    text = _NOT_WORD.sub("", unicodedata.normalize("NFC", text))  # "ŀ" is "l·" in NFKD, "½" is "1⁄2"
    if not text.isascii():
        text = "".join(str(unicodedata.decimal(char)) if char.isdecimal() else char for char in text)
    return text


def fold_token(token: str) -> str:
    """One form per token: NFKD, Cyrillic/Greek look-alikes to Latin (case-preserving, before
    and after case folding), casefold, diacritics stripped, ASCII folding of ``ł ø þ æ đ ð ß œ ı
    ...``, decimal digits of any script as ASCII. Cached: most tokens of a text were seen before."""
    if token.isascii():
        return token.lower()
    folded = _FOLDED.get(token)
    if folded is None:
        if len(_FOLDED) >= FOLD_CACHE_SIZE:
            _FOLDED.clear()
        folded = _FOLDED[token] = _fold(token)
    return folded


@dataclass(frozen=True, slots=True)
class TokenStream:
    """One reading of a text: normalized tokens, their spans in the original text (``starts``,
    ``ends``) and in the rewritten text they were cut from (``clean``, for phone separators).
    ``email_only``: matches count only for the email category (obfuscation words dropped)."""

    tokens: list[str]
    starts: list[int]
    ends: list[int]
    clean: str
    clean_starts: list[int]
    clean_ends: list[int]
    email_only: bool = False


def _rewrite(text: str, edits: list[tuple[int, int, str]]) -> tuple[str, list[tuple[int, int, int, bool]]]:
    """``text`` with ``edits`` (sorted, disjoint ``(start, end, replacement)``) applied, and its
    segments ``(clean_start, original_start, original_end, verbatim)`` for mapping offsets back."""
    parts, segments = [], []
    position = length = 0
    for start, end, replacement in edits:
        if start > position:
            segments.append((length, position, start, True))
            parts.append(text[position:start])
            length += start - position
        if replacement:
            segments.append((length, start, end, False))
            parts.append(replacement)
            length += len(replacement)
        position = end
    if position < len(text):
        segments.append((length, position, len(text), True))
        parts.append(text[position:])
    return "".join(parts), segments


def _stream(clean: str, segments: list[tuple[int, int, int, bool]] | None = None) -> TokenStream:
    matches = list(_WORD_V2.finditer(clean))
    raws = [match.group() for match in matches]
    starts, ends = [match.start() for match in matches], [match.end() for match in matches]
    if clean.isascii():  # the common case: no folding beyond lower(), no Han or kana
        tokens = [raw.lower() for raw in raws]
    elif not _CJK_CHARACTER.search(clean):
        tokens = [raw.lower() if raw.isascii() else fold_token(raw) for raw in raws]
        if "" in tokens:  # a token of combining marks only folds to nothing
            kept = [index for index, token in enumerate(tokens) if token]
            tokens, starts, ends = [tokens[i] for i in kept], [starts[i] for i in kept], [ends[i] for i in kept]
    else:
        tokens, cut_starts, cut_ends = [], [], []
        for raw, offset, end in zip(raws, starts, ends, strict=True):
            pieces = (
                [
                    (fold_token(piece.group()), offset + piece.start(), offset + piece.end())
                    for piece in TOKEN_V2.finditer(raw)
                ]
                if _CJK_CHARACTER.search(raw)
                else [(fold_token(raw), offset, end)]
            )
            for token, piece_start, piece_end in pieces:
                if token:
                    tokens.append(token)
                    cut_starts.append(piece_start)
                    cut_ends.append(piece_end)
        starts, ends = cut_starts, cut_ends
    if segments is None or not tokens:
        return TokenStream(tokens, starts, ends, clean, starts, ends)
    table = np.array(segments, dtype=np.int64)  # clean_start, original_start, original_end, verbatim
    clean_starts, clean_ends = np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64)
    first = table[np.searchsorted(table[:, 0], clean_starts, side="right") - 1]
    last = table[np.searchsorted(table[:, 0], clean_ends - 1, side="right") - 1]
    original_starts = np.where(first[:, 3] == 1, first[:, 1] + clean_starts - first[:, 0], first[:, 1])
    original_ends = np.where(last[:, 3] == 1, last[:, 1] + clean_ends - last[:, 0], last[:, 2])
    return TokenStream(tokens, original_starts.tolist(), original_ends.tolist(), clean, starts, ends)


def _decoded(kind: str, source: str) -> str:
    decoded = html.unescape(source) if kind == "reference" else unquote(source, errors="replace")
    return IGNORABLE.sub("", decoded)


def _without_obfuscation_words(stream: TokenStream, reach: int | None) -> list[TokenStream]:
    """``stream`` without the words ``at``/``dot`` (for the email category only): the stretches of
    ``reach`` kept tokens either side of each such word (all of it when ``reach`` is None), since
    only windows across a dropped word read differently than in ``stream`` itself."""
    tokens = stream.tokens
    if OBFUSCATION_WORDS.isdisjoint(tokens):
        return []
    dropped = {index for index, token in enumerate(tokens) if token in OBFUSCATION_WORDS}
    if reach is None:
        stretches = [(0, len(tokens) - 1)]
    else:
        stretches = []
        for index in sorted(dropped):
            first, wanted = index, reach
            while first > 0 and wanted:
                first -= 1
                wanted -= first not in dropped
            last, wanted = index, reach
            while last < len(tokens) - 1 and wanted:
                last += 1
                wanted -= last not in dropped
            if stretches and first <= stretches[-1][1] + 1:
                stretches[-1] = (stretches[-1][0], max(stretches[-1][1], last))
            else:
                stretches.append((first, last))
    result = []
    for first, last in stretches:
        chosen = [index for index in range(first, last + 1) if index not in dropped]
        if chosen:
            result.append(
                TokenStream(
                    [tokens[i] for i in chosen],
                    [stream.starts[i] for i in chosen],
                    [stream.ends[i] for i in chosen],
                    stream.clean,
                    [stream.clean_starts[i] for i in chosen],
                    [stream.clean_ends[i] for i in chosen],
                    email_only=True,
                )
            )
    return result


def text_streams(text: str, emails: bool = False, reach: int | None = None) -> list[TokenStream]:
    """The token streams of ``text`` a v2 release is matched against; spans of all are unioned.

    - literal: invisible characters removed, nothing else changed;
    - joined (only where there is markup): HTML tags and markdown emphasis (asterisks,
      underscores, tildes, backticks) removed, character references (``&uuml;`` ``&#64;``) and
      percent escapes (``%40``) decoded, so ``J**onas**`` and ``M&uuml;ller`` are one word each;
    - separated (only where tags make a difference): the same, with tags and emphasis read as a
      space, so ``Jonas<b>Müller</b>`` is two words;
    - with ``emails``, each of these without the words ``at``/``dot`` (``anna dot muster (at)
      beispiel dot de``), matched for the email category only (with ``reach``: only the
      ``reach`` tokens either side of such a word, enough for entries of ``reach + 1`` tokens).
    """
    edits = {"ignorable": [], "tag": [], "reference": [], "percent": [], "emphasis": []}
    for match in _MARKUP.finditer(text):
        edits[match.lastgroup].append(match)
    if not any(edits.values()):
        streams = [_stream(text)]
    else:
        invisible = [(match.start(), match.end(), "") for match in edits["ignorable"]]
        streams = [_stream(*_rewrite(text, invisible))] if invisible else [_stream(text)]
        decoded = [
            (match.start(), match.end(), _decoded(kind, match.group()))
            for kind in ("reference", "percent")
            for match in edits[kind]
        ]
        decoded = [edit for edit in decoded if edit[2] != text[edit[0] : edit[1]]]
        joins = [(match.start(), match.end()) for kind in ("tag", "emphasis") for match in edits[kind]]
        if decoded or joins:
            streams.append(_stream(*_rewrite(text, sorted(invisible + decoded + [(s, e, "") for s, e in joins]))))
        if edits["tag"] or (edits["emphasis"] and decoded):
            streams.append(_stream(*_rewrite(text, sorted(invisible + decoded + [(s, e, " ") for s, e in joins]))))
    if emails:
        streams += [part for stream in list(streams) for part in _without_obfuscation_words(stream, reach)]
    return streams


def text_tokens(text: str, version: int = NORMALIZATION_VERSION) -> list[tuple[str, int, int]]:
    """Normalized tokens of ``text`` with their spans in ``text``, as a release of ``version``
    cuts them (v2: the literal stream; markup streams come from ``text_streams``)."""
    if version == 1:
        return tokens_with_spans(text)
    invisible = [(match.start(), match.end(), "") for match in IGNORABLE.finditer(text)]
    stream = _stream(*_rewrite(text, invisible)) if invisible else _stream(text)
    return list(zip(stream.tokens, stream.starts, stream.ends, strict=True))


def phone_runs(stream: TokenStream, longest: int) -> Iterator[tuple[str, int, int]]:
    """Windows of 2..``longest`` consecutive digit tokens of ``stream`` joined only by phone
    separators, as ``(digits, start, end)`` in the original text: ``+41 (0)79 123 45 67`` is also
    ``410791234567``, ``0041 79 123 45 67`` is ``0041791234567``."""
    tokens, clean, clean_starts, clean_ends = stream.tokens, stream.clean, stream.clean_starts, stream.clean_ends
    count = len(tokens)
    index = 0
    while index < count:
        if not tokens[index].isdigit():
            index += 1
            continue
        end = index + 1
        while (
            end < count
            and tokens[end].isdigit()
            and set(clean[clean_ends[end - 1] : clean_starts[end]]) <= PHONE_SEPARATORS_V2
        ):
            end += 1
        for first in range(index, end - 1):
            digits = tokens[first]
            for last in range(first + 1, min(end, first + longest)):
                digits += tokens[last]
                yield digits, stream.starts[first], stream.ends[last]
        index = end


def stable_prefix(text: str) -> int:
    """The largest ``i`` such that how ``text[:i]`` is read cannot change when text is appended.

    Held back (at most ``STABLE_LOOKBACK`` characters): an unfinished tag (``<b``, at most
    ``TAG_LOOKBACK`` back), character reference (``&uum``, ``&#6``) or percent escape (``%4``,
    ``%C3``); and what may join the word before it to a word after it: invisible characters,
    emphasis marks, a complete tag or reference at the end. The last token of ``text[:i]`` may
    still grow (a word continued by the next chunk): callers hold it back as they do today."""
    end = len(text)
    floor = max(0, end - STABLE_LOOKBACK)
    while end > floor:
        start = _trailing_construct(text, end)
        if start >= end:
            break
        end = max(start, floor)
    return end


def construct_start(text: str, position: int) -> int:
    """``position``, moved back to the start of the tag, character reference or percent escape
    it falls inside (a literal token such as ``uuml`` in ``&uuml;`` starts inside one): a stream
    must never cut one in two, or each half is read differently from the whole."""
    window = max(0, position - TAG_LOOKBACK)
    for match in _MARKUP.finditer(text, window, min(len(text), position + TAG_LOOKBACK)):
        if match.start() >= position:
            break
        if position < match.end() and match.lastgroup in ("tag", "reference", "percent"):
            return match.start()
    return position


def _trailing_construct(text: str, end: int) -> int:
    """Where a construct that ends ``text[:end]`` (and may change or join) begins; ``end`` if none."""
    joiners = _TRAILING_JOINERS.search(text, max(0, end - 64), end)
    if joiners is not None:
        return joiners.start()
    last = text[end - 1]
    bracket = text.rfind("<", max(0, end - TAG_LOOKBACK), end)
    if bracket >= 0 and (
        _TAG.fullmatch(text, bracket, end)
        if last == ">"
        else ">" not in text[bracket:end] and _PARTIAL_TAG.fullmatch(text, bracket, end)
    ):
        return bracket
    ampersand = text.rfind("&", max(0, end - REFERENCE_LOOKBACK - 1), end)
    if ampersand >= 0 and _REFERENCE.fullmatch(text, ampersand, end):
        return ampersand
    percent = _TRAILING_PERCENT.search(text, max(0, end - 12), end)
    if percent is not None and percent.start() < end:
        start = percent.start()
        while start + 3 <= end and text[start + 1] in "89abAB" and text[start] == "%":
            start += 3  # a UTF-8 continuation byte: the character began earlier, in text already read
        return start if start < end else percent.start()
    return end


# --------------------------------------------------------------------------------------------
# entries (both versions)


def entry_sequences(
    value: str, category: str, region: str | None = None, version: int = NORMALIZATION_VERSION
) -> list[tuple[str, ...]]:
    """Every token sequence under which a request ``value,category,region`` is listed.

    v1: ``entry_variants`` (phones: ``phone_variants``). v2: the value as ``text_streams`` folds
    it, its German transliteration (``ü -> ue``, ``ø -> oe``), for names also ``Surname, Given``
    (every rotation at a space or comma: ``Keller, Hans Peter``), for values with Cyrillic or
    Greek letters the upper, lower and title case of each (their look-alike folding depends on
    case); phones: ``phone_variants_v2``."""
    if version == 1:
        return [(digits,) for digits in phone_variants(value, region)] if category == "phone" else entry_variants(value)
    if category == "phone":
        return [(digits,) for digits in phone_variants_v2(value, region)]
    value = unicodedata.normalize("NFC", IGNORABLE.sub("", value))
    forms = {value, value.translate(TRANSLITERATION_CASED)}
    if any(ord(char) in CONFUSABLE_LETTERS for char in value):
        forms |= {case(form) for form in forms for case in (str.upper, str.lower, str.title)}
    sequences = set()
    for form in forms:
        stream = _stream(form)
        tokens = tuple(stream.tokens)
        if not tokens:
            continue
        sequences.add(tokens)
        if category == "name":
            for cut in range(1, len(tokens)):
                between = form[stream.ends[cut - 1] : stream.starts[cut]]
                if between and (between.isspace() or "," in between):
                    sequences.add(tokens[cut:] + tokens[:cut])
    return sorted(sequences)


def phone_variants_v2(value: str, region: str | None = None) -> list[str]:
    """Digit strings under which a phone number is listed: as written; international as E.164
    (``41446681800``), with the ``00`` and ``011`` prefixes, with the ``(0)`` trunk kept
    (``+41 (0)44 ...``: ``410446681800``); national with its trunk prefix (``0446681800``)."""
    import phonenumbers

    value = unicodedata.normalize("NFKC", value)
    digits = "".join(str(unicodedata.decimal(char)) for char in value if char.isdecimal())
    variants = {digits} if digits else set()
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return sorted(variants)
    country, national = str(number.country_code), phonenumbers.national_significant_number(number)
    if not national:
        return sorted(variants)
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(phonenumbers.region_code_for_number(number) or "")
    trunk = (metadata.national_prefix if metadata is not None else None) or ""
    formatted = "".join(
        char for char in phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL) if char.isdigit()
    )
    for international in (country + national, country + trunk + national):
        variants |= {international, "00" + international, "011" + international}
    variants |= {formatted, trunk + national}
    return sorted(variant for variant in variants if variant)
