"""Normalization version 1: how entries and generated text become comparable token sequences.

Both sides are cut into word tokens (Unicode letters, digits, marks; punctuation ignored), and
each token is NFKC-normalized and case-folded. Entries are expanded into variants when they
are built (with and without diacritics, German transliteration ``ü -> ue``), so the text side
needs one form per token and stays fast. Phone numbers compare as digit strings.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator

import regex

NORMALIZATION_VERSION = 1
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
        joined = (index < len(spans) and token.isdigit() and run_start is not None
                  and set(text[spans[index - 1][2]:start]) <= PHONE_SEPARATORS)
        if joined:
            continue
        if run_start is not None and index - run_start >= 2:
            for first in range(run_start, index - 1):
                digits = spans[first][0]
                for last in range(first + 1, min(index, first + longest)):
                    digits += spans[last][0]
                    yield digits, first, last, spans[first][1], spans[last][2]
        run_start = index if index < len(spans) and token.isdigit() else None
