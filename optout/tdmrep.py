"""W3C TDMRep ``/.well-known/tdmrep.json``: a JSON array of location rules.

Each entry (``{"location": "/images/*", "tdm-reservation": 1, "tdm-policy": URL}``) becomes a
:class:`~.rules.Rule`: the location is a path pattern with ``*`` and a trailing ``$``, and "the
most specific location wins" is the longest match :class:`~.rules.CompiledRules` already does.

Unlike robots.txt, a malformed file is an error, not an empty rule set: a reservation the
publisher tried to make must not silently vanish, so the caller decides what an unreadable
file means. Every failure is a :class:`TdmRepError` (hypothesis checks this).
"""

from __future__ import annotations

import json

from apertus_compliance.errors import ApertusError
from apertus_compliance.optout.rules import Rule, escape_pattern, url_path

_BOM = b"\xef\xbb\xbf"
_WHITESPACE = " \t\n\r"


class TdmRepError(ApertusError, ValueError):
    """A tdmrep.json that cannot be read; ``line`` is the 1-based line of the problem, if known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def parse_tdmrep(content: bytes | str) -> list[Rule]:
    """The rules of a tdmrep.json, in file order; raises :class:`TdmRepError` on malformed input.

    ``Rule.line`` is the line where the entry starts and ``Rule.text`` the entry as compact JSON.
    """
    text = _decode(content)
    try:
        entries = _array_entries(text)
        return [_rule(index, entry, line) for index, (entry, line) in enumerate(entries, start=1)]
    except RecursionError:
        raise TdmRepError("JSON nested too deeply") from None
    except json.JSONDecodeError as error:
        raise TdmRepError(f"invalid JSON: {error.msg}", error.lineno) from None
    except TdmRepError:
        raise
    except ValueError as error:  # an integer literal longer than Python converts
        raise TdmRepError(f"invalid JSON: {error}") from None


def _decode(content: bytes | str) -> str:
    if isinstance(content, str):
        return content.removeprefix("\ufeff")
    data = content.removeprefix(_BOM)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise TdmRepError(f"not UTF-8 (byte {error.start})", data[: error.start].count(b"\n") + 1) from None


def _array_entries(text: str) -> list[tuple[object, int]]:
    """The top-level array's elements with the line each starts on (``json`` keeps no positions)."""
    decoder = json.JSONDecoder()
    position = _skip(text, 0)
    if not text.startswith("[", position):
        if position == len(text):
            raise TdmRepError("empty file", 1)
        decoder.raw_decode(text, position)  # raises for invalid JSON, with its line
        raise TdmRepError("not a JSON array", _line(text, position))
    entries: list[tuple[object, int]] = []
    position = _skip(text, position + 1)
    if text.startswith("]", position):
        position += 1
    else:
        while True:
            value, end = decoder.raw_decode(text, position)
            entries.append((value, _line(text, position)))
            position = _skip(text, end)
            if text.startswith(",", position):
                position = _skip(text, position + 1)
            elif text.startswith("]", position):
                position += 1
                break
            else:
                what = "unterminated array" if position == len(text) else "expected ',' or ']' after an entry"
                raise TdmRepError(what, _line(text, position))
    position = _skip(text, position)
    if position != len(text):
        raise TdmRepError("extra data after the array", _line(text, position))
    return entries


def _rule(index: int, entry: object, line: int) -> Rule:
    if not isinstance(entry, dict):
        raise TdmRepError(f"entry {index}: not an object", line)
    location = entry.get("location")
    if not isinstance(location, str) or not location.strip():
        what = "missing" if "location" not in entry else "not a non-empty string"
        raise TdmRepError(f'entry {index}: "location" {what}', line)
    reservation = entry.get("tdm-reservation")
    if type(reservation) is not int or reservation not in (0, 1):  # bool and 1.0 are not 0/1
        what = "missing" if "tdm-reservation" not in entry else "not 0 or 1"
        raise TdmRepError(f'entry {index}: "tdm-reservation" {what}', line)
    location = location.strip()
    if "://" in location:  # a full URL where a path belongs: keep its path
        location = url_path(location)
    elif not location.startswith("/"):
        location = "/" + location
    # A lone surrogate (from a "\ud800" escape) stays an escape, so the text always encodes.
    compact = json.dumps(entry, separators=(",", ":"), ensure_ascii=False)
    text = compact.encode("utf-8", "backslashreplace").decode("utf-8")[:200]
    return Rule(pattern=escape_pattern(location), allow=reservation == 0, line=line, text=text)


def _skip(text: str, position: int) -> int:
    while position < len(text) and text[position] in _WHITESPACE:
        position += 1
    return position


def _line(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1
