"""Mask emails, IP addresses and IBANs in training documents (Apertus report §3.1.2, done better).

Apertus replaced emails, IPs and IBANs with ``<email-pii>``, ``<ip-pii>`` and ``<iban-pii>``
using plain regular expressions; its IBAN pattern only knew the space-grouped form and its IPv4
pattern had no boundaries. Here each category is a recognizer in presidio's shape (a compiled
pattern plus ``validate_result``), but written in plain ``re`` because it runs on every document
of a training mixture:

* IBANs are matched in any single-space grouping (or compact), any case, against the
  country's BBAN structure and length from the SWIFT IBAN registry (all 89 countries), and must
  pass ISO 7064 mod-97, so "a number that looks like an IBAN" is not enough.
* IPv4 is anchored (no word character, digit-dot or version suffix around it), octets are
  checked, and dotted numbers after "version", "section", "§", ... are left alone. IPv6 (full,
  ``::``-compressed, embedded IPv4, zone id) is parsed by :mod:`ipaddress`, which also decides
  what ``public_ip_only`` keeps.
* Placeholders are fixed strings, so a document masks the same way wherever and however often
  it is processed: masking is idempotent (see :func:`find_pii`). The boundary rules are
  symmetric (what rejects ``A`` before ``.B`` also rejects ``B`` after ``A.``), so glued runs
  such as ``1.2.3.4.5.6.7.8`` are rejected whole instead of being unpicked piece by piece.

Speed: each recognizer first looks for a cheap hint (``@``; ``.d.d``; ``:h:``; two letters and
two digits) with a search that starts with a literal, which CPython's regex engine skips to in
C; a 1 KB English document without PII costs a few microseconds in all. Phone numbers are not
masked (Apertus did not). Apertus did not mask code and math sources either; which sources go
through this step is the recipe's choice, not this module's.
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import ClassVar, Literal

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.typeshelper import StatHints

PiiCategory = Literal["email", "ip", "iban"]

PLACEHOLDERS: dict[PiiCategory, str] = {"email": "<email-pii>", "ip": "<ip-pii>", "iban": "<iban-pii>"}
CATEGORIES: tuple[PiiCategory, ...] = ("email", "ip", "iban")

# On equal length, the category that wins an overlap (lower is stronger).
_PRIORITY: dict[PiiCategory, int] = {"email": 0, "iban": 1, "ip": 2}


@dataclass(frozen=True)
class PiiSpan:
    """One detected piece of PII: ``text[start:end]`` is replaced by the category's placeholder."""

    start: int
    end: int
    category: PiiCategory


class Recognizer:
    """Presidio-shaped recognizer: a cheap ``HINT``, the real ``PATTERN``, then ``validate_result``.

    ``HINT`` starts with a literal so the engine can skip through text that cannot hold a match;
    for each hint, ``candidate_start`` says where a match would begin and ``PATTERN.match`` runs
    there (its look-behinds still see the text before that position). A failed hint resumes the
    search one character later, so a rejected candidate never hides a real one after it.
    """

    category: ClassVar[PiiCategory]
    HINT: ClassVar[re.Pattern[str]]
    PATTERN: ClassVar[re.Pattern[str]]

    def candidate_start(self, text: str, hint: re.Match[str]) -> int:
        return hint.start()

    def validate_result(self, text: str, match: re.Match[str]) -> int | None:
        """The end of the accepted span (it may trim the match), or None to reject it."""
        return match.end()

    def analyze(self, text: str) -> Iterator[PiiSpan]:
        pos = 0
        hint_search = self.HINT.search
        while (hint := hint_search(text, pos)) is not None:
            match = self.PATTERN.match(text, self.candidate_start(text, hint))
            end = self.validate_result(text, match) if match is not None else None
            if end is None:
                pos = hint.start() + 1
                continue
            yield PiiSpan(match.start(), end, self.category)
            pos = end


class EmailRecognizer(Recognizer):
    """Practical RFC 5322 addresses: dot-atom local part (Unicode letters allowed), DNS domain.

    Quoted local parts and the rarer specials (``/ = ? { | }`` ...) are left out on purpose: in
    web text they are URL query strings and quotes far more often than mailboxes, and including
    them would swallow whole URLs. The TLD must be letters (or ``xn--`` punycode), so
    ``pkg@1.2.3`` and ``user@localhost`` are no addresses.

    Matching is anchored at each ``@``: the domain is matched forwards, then the local part (at
    most 64 characters, RFC 5321) backwards, so a document full of handles and decorators costs
    a few steps per ``@`` instead of a regex attempt at every word.
    """

    category = "email"
    HINT = re.compile("@")
    PATTERN = re.compile(  # the domain, from the '@'
        r"@(?:[^\W_]+(?:-+[^\W_]+)*\.)+"  # DNS labels: letters/digits, inner hyphens
        r"(?:xn--[0-9A-Za-z-]{1,59}|[^\W\d_]{2,63})"  # TLD
        r"(?![\w-])"
    )
    # Matched on the reversed text before the '@' (dot-atoms read the same both ways), so one
    # anchored match finds the longest local part instead of a search over the window.
    LOCAL_PART_REVERSED = re.compile(r"[\w%+-]+(?:\.[\w%+-]+)*(?![\w%+-])")
    _LOCAL_MAX = 64

    def analyze(self, text: str) -> Iterator[PiiSpan]:
        pos = 0
        while (at := text.find("@", pos)) != -1:
            domain = self.PATTERN.match(text, at)
            if domain is not None:
                window = max(pos, at - self._LOCAL_MAX)
                local = self.LOCAL_PART_REVERSED.match(text[window:at][::-1])
                if local is not None:
                    yield PiiSpan(at - local.end(), domain.end(), self.category)
                    pos = domain.end()
                    continue
            pos = at + 1


class ArchivedEmailRecognizer(Recognizer):
    """Addresses as mail archives write them: ``user at example.org`` (pipermail), ``user (at)
    example.org``, ``user [at] example.org``; masked as emails, in every source.

    The bracketed forms are unambiguous. The plain `` at `` form is also English ("look at
    python.org"), so it counts only where prose does not write it: inside ``<...>`` (``Maria
    <mlopez at example.net>``), with a local part no English word has (a dot, digit, ``_``, ``+``,
    ``%`` or ``-``: ``maria.lopez at example.net``), or on a ``From:``/``To:``/``Cc:`` header
    line. ``jdoe at example.org`` elsewhere is left alone: it reads like "look at python.org".
    The separator may wrap onto the next line, as quoted mail does. The domain follows
    :class:`EmailRecognizer`'s rules (DNS labels, a letter TLD).
    """

    category = "email"
    # One pass per case that starts with the literal "at"/"AT", so the engine skips to it in C (a
    # character-class start costs a step per space of English text: 5x slower here); the rare hits
    # followed by a domain-like word are then checked in Python.
    _DOMAIN_AHEAD = r"(?=[ \t]*\n?[ \t]*(?:[^\W_]+(?:-+[^\W_]+)*\.)+[^\W\d_]{2})"
    HINTS = (re.compile(r"at[ \t\n\])}]" + _DOMAIN_AHEAD), re.compile(r"AT[\])}]" + _DOMAIN_AHEAD))
    _OPENERS = {")": "(", "]": "[", "}": "{"}
    _AFTER = re.compile(r"[ \t]*\n?[ \t]*")
    DOMAIN = re.compile(r"(?:[^\W_]+(?:-+[^\W_]+)*\.)+(?:xn--[0-9A-Za-z-]{1,59}|[^\W\d_]{2,63})(?![\w-]|\.[^\W_])")
    LOCAL_PART_REVERSED = EmailRecognizer.LOCAL_PART_REVERSED
    _NOT_A_WORD = re.compile(r"[\d._+%-]")
    _HEADER = re.compile(r"[ \t>]*(?:from|to|cc|bcc|reply-to|sender):", re.IGNORECASE)

    def _separators(self, text: str) -> list[tuple[int, int, bool]]:
        """(start, end, bracketed) of every `` at `` / ``(at)`` that a domain-like word follows."""
        found = []
        for hints in self.HINTS:
            for hint in hints.finditer(text):
                at, closer = hint.start(), hint.group()[-1]
                if at == 0:
                    continue
                if closer in self._OPENERS:  # "(at)", spaces allowed before the opener
                    if text[at - 1] != self._OPENERS[closer]:
                        continue
                    start = at - 1
                    while start > 0 and text[start - 1] in " \t":
                        start -= 1
                    found.append((start, hint.end(), True))
                elif text[at - 1] in " \t\n":  # " at ", possibly wrapped onto the next line
                    found.append((at - 1, hint.end(), False))
        return sorted(found)

    def analyze(self, text: str) -> Iterator[PiiSpan]:
        last_end = 0
        for separator_start, separator_end, bracketed in self._separators(text):
            if separator_start < last_end:
                continue
            domain = self.DOMAIN.match(text, self._AFTER.match(text, separator_end).end())
            if domain is None:
                continue
            window_start = max(0, separator_start - EmailRecognizer._LOCAL_MAX)
            before = text[window_start:separator_start][::-1]
            local = self.LOCAL_PART_REVERSED.match(before)
            if local is None:
                continue
            start = separator_start - local.end()
            if not bracketed and not self._unambiguous(text, start, domain.end(), before[: local.end()]):
                continue
            yield PiiSpan(start, domain.end(), self.category)
            last_end = domain.end()

    def _unambiguous(self, text: str, start: int, end: int, local_reversed: str) -> bool:
        if start > 0 and text[start - 1] == "<" and text[end : end + 1] == ">":
            return True
        if self._NOT_A_WORD.search(local_reversed):
            return True
        line_start = text.rfind("\n", 0, start) + 1
        return self._HEADER.match(text, line_start, start) is not None


@functools.lru_cache(maxsize=1 << 16)
def _is_public(text: str) -> bool:
    """Globally routable unicast: what identifies a host on the internet.

    IPv4-mapped (``::ffff:a.b.c.d``) and NAT64 (``64:ff9b::a.b.c.d``) addresses are judged by the
    IPv4 address they carry. Multicast is excluded by hand: Python calls 224.0.0.0/4 global.
    Cached by the address text: the same few addresses recur across documents.
    """
    address = ipaddress.ip_address(text)
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        elif address in _NAT64:
            address = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.is_global and not address.is_multicast


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


@functools.lru_cache(maxsize=1 << 16)
def _is_ipv6(candidate: str) -> bool:
    if candidate.count(":") < 2:
        return False
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return True


# A dotted quad right after one of these words (or §) is a version or a section number.
_NOT_AN_ADDRESS_AFTER = frozenset(
    {
        "version",
        "ver",
        "release",
        "rel",
        "build",
        "firmware",
        "section",
        "sec",
        "chapter",
        "article",
        "art",
        "clause",
        "paragraph",
        "para",
        "figure",
        "fig",
        "table",
        "step",
        "rule",
    }
)


def _after_keyword(text: str, start: int) -> bool:
    """``Version 1.2.3.4``, ``section: 1.2.3.4``, ``(ver. 1.2.3.4``, ``§ 1.2.3.4``.

    Plain string operations on the last word before the address: this runs per candidate.
    """
    window = max(0, start - 32)
    before = text[window:start].rstrip()
    if before.endswith(":"):
        before = before[:-1].rstrip()
    if before.endswith("§"):
        return True
    words = before.removesuffix(".").rsplit(None, 1)
    if not words or (len(words) == 1 and window > 0 and not text[window - 1].isspace()):
        return False  # nothing before, or a word cut by the window
    return words[-1].lstrip("([{\"'").lower() in _NOT_AN_ADDRESS_AFTER


class IPv4Recognizer(Recognizer):
    """Dotted-quad IPv4, anchored so that parts of longer dotted numbers never match.

    Rejected: a word character or ``digit.`` before (``v1.2.3.4``, the tail of ``1.2.3.4.5``),
    a word character, ``.digit`` or ``-letter`` after (``1.2.3.4.5``, ``1.2.3.4-beta``; a range
    like ``10.0.0.1-10.0.0.9`` still matches twice), and version/section context before. ISBNs
    and DOIs have fewer dots and never qualify. Octets with leading zeros (``192.168.001.001``)
    are read as decimal, as people who write them mean.
    """

    category = "ip"
    HINT = re.compile(r"\.[0-9]{1,3}\.[0-9]")
    PATTERN = re.compile(
        r"(?<!\w)(?<![0-9]\.)"
        r"([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})"
        r"(?!\w|\.[0-9]|-[^\W\d_])"
    )

    def __init__(self, public_only: bool = False) -> None:
        self.public_only = public_only

    def candidate_start(self, text: str, hint: re.Match[str]) -> int:
        # The hint starts at the first dot; the first octet is the digits right before it.
        start = hint.start()
        while start > 0 and hint.start() - start < 3 and "0" <= text[start - 1] <= "9":
            start -= 1
        return start

    def validate_result(self, text: str, match: re.Match[str]) -> int | None:
        octets = [int(octet) for octet in match.groups()]
        if max(octets) > 255:
            return None
        start = match.start()
        if _after_keyword(text, start):
            return None
        if self.public_only and not _is_public(".".join(map(str, octets))):
            return None
        return match.end()


class IPv6Recognizer(Recognizer):
    """IPv6 in every textual form, parsed by :class:`ipaddress.IPv6Address`.

    The pattern is deliberately loose (hex groups between colons, an optional IPv4 tail and zone
    id) and the parser decides. A candidate must contain a decimal digit: ``::`` alone, C++
    ``std::vector`` and hex words like ``dead::beef`` stay; times (``12:30:45``) and MAC
    addresses fail to parse. A single trailing colon (``fe80::1:`` ending a clause) is dropped.
    Not glued to a word, a colon, or (across a dot) a hex digit or colon on either side.
    """

    category = "ip"
    HINT = re.compile(r":[0-9A-Fa-f]{0,4}:")
    PATTERN = re.compile(
        r"(?<![\w:])(?<![0-9A-Fa-f:]\.)"
        r"(?:[0-9A-Fa-f]{1,4}|(?=::))"
        r"(?::[0-9A-Fa-f]{0,4}){2,8}"
        r"(?:\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3})?"
        r"(?:%[0-9A-Za-z]+)?"
        r"(?![\w:]|\.[0-9A-Fa-f:])"
    )
    _HEX = frozenset("0123456789abcdefABCDEF")
    _DIGIT = re.compile("[0-9]")

    def __init__(self, public_only: bool = False) -> None:
        self.public_only = public_only

    def candidate_start(self, text: str, hint: re.Match[str]) -> int:
        start = hint.start()
        while start > 0 and hint.start() - start < 4 and text[start - 1] in self._HEX:
            start -= 1
        return start

    def validate_result(self, text: str, match: re.Match[str]) -> int | None:
        candidate = match.group()
        if not self._DIGIT.search(candidate):
            return None
        end = match.end()
        if not _is_ipv6(candidate):
            if not (candidate.endswith(":") and not candidate.endswith("::") and _is_ipv6(candidate[:-1])):
                return None
            candidate = candidate[:-1]
            end -= 1
        if _is_unspecified(candidate) or _is_slice(text, match.start(), candidate):
            return None
        if self.public_only and not _is_public(candidate):
            return None
        return end


@functools.lru_cache(maxsize=1 << 12)
def _is_unspecified(candidate: str) -> bool:
    """``::``, ``::0``, ``0::0``...: the address of no host, and in code a scope or default (``::0``)."""
    return ipaddress.IPv6Address(candidate.partition("%")[0]) == ipaddress.IPv6Address(0)


def _is_slice(text: str, start: int, candidate: str) -> bool:
    """``a[1::2]``, ``x[:, ::10]``: a short all-decimal ``::`` form inside an index bracket (one that
    follows a name, ``)`` or ``]``) is a Python/NumPy slice. ``[::1]:443`` and ``hosts["::1"]`` stay
    addresses: their bracket follows ``/`` or a space, or the candidate is quoted."""
    groups = [group for group in candidate.split(":") if group]
    if len(groups) > 2 or not all(group.isdigit() for group in groups) or "::" not in candidate:
        return False
    if start and text[start - 1] in "\"'":
        return False
    window = text[max(0, start - 64) : start]
    opener = window.rfind("[")
    if opener <= 0 or "]" in window[opener:]:
        return False
    before = window[opener - 1]
    return before.isalnum() or before in "_)]"


# BBAN structure per country from the SWIFT IBAN registry (release 101): n digits, a letters,
# c letters or digits. The IBAN is country code + 2 check digits + BBAN.
_IBAN_BBAN_FORMATS = (
    "AD:4n4n12c AE:3n16n AL:8n16c AT:5n11n AZ:4a20c BA:3n3n8n2n BE:3n7n2n BG:4a4n2n8c BH:4a14c "
    "BI:5n5n11n2n BR:8n5n10n1a1c BY:4c4n16c CH:5n12c CR:4n14n CY:3n5n16c CZ:4n16n DE:8n10n "
    "DJ:5n5n11n2n DK:4n9n1n DO:4c20n EE:2n14n EG:4n4n17n ES:4n4n1n1n10n FI:3n11n FK:2a12n "
    "FO:4n9n1n FR:5n5n11c2n GB:4a6n8n GE:2a16n GI:4a15c GL:4n9n1n GR:3n4n16c GT:4c20c HN:4a20n "
    "HR:7n10n HU:3n4n1n15n1n IE:4a6n8n IL:3n3n13n IQ:4a3n12n IS:4n2n6n10n IT:1a5n5n12c "
    "JO:4a4n18c KW:4a22c KZ:3n13c LB:4n20c LC:4a24c LI:5n12c LT:5n11n LU:3n13c LV:4a13c "
    "LY:3n3n15n MC:5n5n11c2n MD:2c18c ME:3n13n2n MK:3n10c2n MN:4n12n MR:5n5n11n2n MT:4a5n18c "
    "MU:4a2n2n12n3n3a NI:4a20n NL:4a10n NO:4n6n1n OM:3n16c PK:4a16c PL:8n16n PS:4a21c "
    "PT:4n4n11n2n QA:4a21c RO:4a16c RS:3n13n2n RU:9n5n15c SA:2n18c SC:4a2n2n16n3a SD:2n12n "
    "SE:3n16n1n SI:5n8n2n SK:4n6n10n SM:1a5n5n12c SO:4n3n12n ST:4n4n11n2n SV:4a20n TL:3n14n2n "
    "TN:2n3n13n2n TR:5n1n16c UA:6n19c VA:3n15n VG:4a16n XK:4n10n2n YE:4a4n18c"
)
_BBAN_CLASS = {"n": "[0-9]", "a": "[A-Za-z]", "c": "[0-9A-Za-z]"}
_SEPARATOR = "[ \u00a0]?"  # one space (or no-break space) between any two characters


def _bban_pattern(spec: str) -> re.Pattern[str]:
    """``4a6n8n`` -> the BBAN with an optional single separator before every character."""
    parts = [f"(?:{_SEPARATOR}{_BBAN_CLASS[kind]}){{{count}}}" for count, kind in re.findall(r"(\d+)([nac])", spec)]
    return re.compile("".join(parts) + r"(?![^\W_]|\.[0-9])")


def _bban_length(spec: str) -> int:
    return sum(int(count) for count in re.findall(r"\d+", spec))


IBAN_BBAN: dict[str, re.Pattern[str]] = {}
IBAN_LENGTHS: dict[str, int] = {}
for _entry in _IBAN_BBAN_FORMATS.split():
    _country, _spec = _entry.split(":")
    IBAN_BBAN[_country] = _bban_pattern(_spec)
    IBAN_LENGTHS[_country] = 4 + _bban_length(_spec)


def iban_checksum_ok(iban: str) -> bool:
    """ISO 13616 / ISO 7064 mod 97-10 on a compact, upper-case IBAN; check digits are 02..98."""
    if not "02" <= iban[2:4] <= "98":
        return False
    return int((iban[4:] + iban[:4]).translate(_LETTER_VALUES)) % 97 == 1


_LETTER_VALUES = {ord(letter): str(value) for value, letter in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 10)}


def _ascii_classes() -> bytes:
    """A ``bytes.translate`` table: upper-case letters -> ``A``, lower-case -> ``a``, digits ->
    ``0``, everything else -> space."""
    table = bytearray(b" " * 256)
    for first, last, cls in ((b"A", b"Z", b"A"), (b"a", b"z", b"a"), (b"0", b"9", b"0")):
        table[first[0] : last[0] + 1] = cls * (last[0] - first[0] + 1)
    return bytes(table)


_ASCII_CLASSES = _ascii_classes()


class IbanRecognizer(Recognizer):
    """IBANs in any grouping, validated by the country's structure and length and by mod-97.

    Country code and check digits, then the country's BBAN with at most one space (or no-break
    space) between any two characters: compact, the printed groups of four, or any other
    grouping; any letter case. A space between country code and check digits (``DE 89 ...``)
    is accepted with an upper-case country code only, because ``in 2023`` and ``on 15 May``
    would otherwise make every English document a candidate. The last character must not be
    followed by a letter, a digit or ``.digit``, so a valid prefix of a longer number never
    matches; a wrong check digit or a length that is not the country's never matches.

    Letters are everywhere, so instead of a letter-led regex the scan maps the text to
    character classes with ``bytes.translate`` (one C pass; ``encode("ascii", "replace")``
    keeps one byte per character, so offsets are the text's) and searches the literal ``00``.
    """

    category = "iban"
    HINT = re.compile(rb"00(?:(?<=[Aa][Aa]00)|(?<=AA 00))")  # searched in the class bytes
    PATTERN = re.compile(r"(?<![^\W_])(?:([A-Za-z]{2})|([A-Z]{2})[ \u00a0])([0-9]{2})")
    _NOT_BBAN = re.compile(r"[^0-9A-Za-z]")

    def analyze(self, text: str) -> Iterator[PiiSpan]:
        classes = text.encode("ascii", "replace").translate(_ASCII_CLASSES)
        end = 0
        for hint in self.HINT.finditer(classes):
            digits = hint.start()
            start = digits - (3 if classes[digits - 1] == 0x20 else 2)
            if start < end:
                continue
            head = self.PATTERN.match(text, start)
            found = head and self.validate_result(text, head)
            if found:
                yield PiiSpan(start, found, self.category)
                end = found

    def validate_result(self, text: str, match: re.Match[str]) -> int | None:
        country = (match.group(1) or match.group(2)).upper()
        bban_pattern = IBAN_BBAN.get(country)
        bban = bban_pattern.match(text, match.end()) if bban_pattern is not None else None
        if bban is None:
            return None
        compact = (country + match.group(3) + self._NOT_BBAN.sub("", bban.group())).upper()
        return bban.end() if iban_checksum_ok(compact) else None


_RECOGNIZERS: dict[bool, tuple[Recognizer, ...]] = {
    public_only: (
        EmailRecognizer(),
        ArchivedEmailRecognizer(),
        IPv4Recognizer(public_only),
        IPv6Recognizer(public_only),
        IbanRecognizer(),
    )
    for public_only in (False, True)
}


def find_pii(text: str, public_ip_only: bool = False) -> list[PiiSpan]:
    """Emails, IP addresses and IBANs in ``text``: sorted, non-overlapping, deterministic.

    Candidates that overlap are merged into one span so that no fragment of a detected address
    is left behind; the span takes the category of its longest candidate (on a tie: email, then
    iban, then ip). With ``public_ip_only`` private, loopback, link-local, documentation,
    reserved, multicast and unspecified addresses are left as they are.

    A placeholder is a boundary: ``x@y.com::1`` masks the email, and ``::1``, no longer glued
    to a word, is then an address too. So when something was found, the text between the
    spans is scanned again as it will read once masked, until nothing new turns up; this is
    what makes :func:`mask_pii` idempotent. It ends: no pattern spans ``<`` or ``>``, so new
    spans lie between the placeholders, and each consumes an ``@`` or a digit.
    """
    recognizers = _RECOGNIZERS[public_ip_only]
    spans = _scan(text, recognizers)
    while spans:
        masked, gaps = _masked_with_gaps(text, spans)
        found = _scan(masked, recognizers)
        if not found:
            break
        spans = sorted(spans + [_to_original(span, gaps) for span in found], key=lambda span: span.start)
    return spans


def _scan(text: str, recognizers: tuple[Recognizer, ...]) -> list[PiiSpan]:
    candidates = [span for recognizer in recognizers for span in recognizer.analyze(text)]
    return _merge_overlaps(candidates) if len(candidates) > 1 else candidates


def _masked_with_gaps(text: str, spans: list[PiiSpan]) -> tuple[str, list[tuple[int, int]]]:
    """The masked text and, per unmasked gap, (its start in the masked text, in ``text``)."""
    pieces: list[str] = []
    gaps: list[tuple[int, int]] = []
    last = masked_len = 0
    for span in spans:
        gaps.append((masked_len, last))
        pieces.append(text[last : span.start])
        placeholder = PLACEHOLDERS[span.category]
        pieces.append(placeholder)
        masked_len += span.start - last + len(placeholder)
        last = span.end
    gaps.append((masked_len, last))
    pieces.append(text[last:])
    return "".join(pieces), gaps


def _to_original(span: PiiSpan, gaps: list[tuple[int, int]]) -> PiiSpan:
    masked_start, original_start = gaps[bisect.bisect_right(gaps, span.start, key=lambda gap: gap[0]) - 1]
    shift = original_start - masked_start
    return PiiSpan(span.start + shift, span.end + shift, span.category)


def _merge_overlaps(candidates: Iterable[PiiSpan]) -> list[PiiSpan]:
    def strength(span: PiiSpan) -> tuple[int, int]:
        return (span.end - span.start, -_PRIORITY[span.category])

    merged: list[PiiSpan] = []
    ordered = sorted(candidates, key=lambda span: (span.start, -span.end, _PRIORITY[span.category]))
    start, end, best = ordered[0].start, ordered[0].end, ordered[0]
    for span in ordered[1:]:
        if span.start < end:
            end = max(end, span.end)
            if strength(span) > strength(best):
                best = span
            continue
        merged.append(PiiSpan(start, end, best.category))
        start, end, best = span.start, span.end, span
    merged.append(PiiSpan(start, end, best.category))
    return merged


def mask_pii(text: str, public_ip_only: bool = False) -> tuple[str, dict[str, int]]:
    """``text`` with every span from :func:`find_pii` replaced by its placeholder, and the
    number of spans per category (all three keys, always)."""
    counts = dict.fromkeys(CATEGORIES, 0)
    spans = find_pii(text, public_ip_only)
    if not spans:
        return text, counts
    for span in spans:
        counts[span.category] += 1
    return _masked_with_gaps(text, spans)[0], counts


class PIIMasker(PipelineStep):
    """Datatrove step: masks ``doc.text`` and records what it masked.

    ``doc.metadata["pii_email" | "pii_ip" | "pii_iban"]`` always holds the number of spans
    replaced (0 when none), so an audit can count masked documents without re-scanning; the
    step's stats add up the same numbers per category.
    """

    name = "🔒 PII masker"
    type = "🔒 - PII"

    def __init__(self, public_ip_only: bool = False) -> None:
        super().__init__()
        self.public_ip_only = public_ip_only

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        # Totals are kept locally and stored once per task: datatrove's per-document stat updates
        # and timers would cost more than the scan itself on clean 1 KB documents.
        documents, totals = 0, dict.fromkeys(CATEGORIES, 0)
        for doc in data:
            documents += 1
            doc.text, counts = mask_pii(doc.text, self.public_ip_only)
            for category, count in counts.items():
                doc.metadata[f"pii_{category}"] = count
                totals[category] += count
            yield doc
        self.stat_update(StatHints.total, value=documents)
        for category, count in totals.items():
            if count:
                self.stat_update(f"pii_{category}", value=count)
