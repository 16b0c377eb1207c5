"""Google's robots.txt reference suite (RFC 9309 and Google-only cases), and byte-level cases
whose verdicts were produced by running Google's reference parser (``robots.cc``) itself."""

import json
from pathlib import Path

import pytest
from protego import Protego

from apertus_compliance.optout.robots import parse_robots

CONFORMANCE = Path(__file__).parent / "conformance"
CASES = json.loads((CONFORMANCE / "robots_rfc9309.json").read_text())
RFC_CASES = [c for c in CASES if not c["google_only"]]
BYTE_CASES = json.loads((CONFORMANCE / "robots_bytes.json").read_text())

DEPARTURES = {
    40: "the agent asked about is reduced to its product token ('Foo Bar' -> 'foo', as every agent "
    "is in this toolkit), so the 'Foo Bar' group applies; the reference compares 'Foo Bar' verbatim "
    "with the file's tokens, matches nothing and answers with the '*' group",
}
"""Reference cases this parser answers the other way on purpose (README, robots.txt conformance)."""


def _case_id(case: dict) -> str:
    return f"{case['id']}-{case.get('test') or case['rule']}"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_reference_case(case):
    """Every case, Google-only ones included, agrees with the reference parser, except the
    documented departures, which must give the opposite answer."""
    robots = parse_robots(case["robots_txt"])
    expected = case["allowed"] is not (case["id"] in DEPARTURES)
    assert robots.allowed(case["user_agent"], case["url"]) is expected


@pytest.mark.parametrize("case", BYTE_CASES, ids=_case_id)
def test_byte_level_case(case):
    """Raw bytes in, the reference parser's verdict out (``make_robots_bytes.py`` ran robots.cc
    on each; ``reference`` names the part of robots.cc that decides it). A case carrying ``ours``
    is a deliberate departure, explained in its ``why``."""
    robots = parse_robots(case["robots_txt_bytes"].encode("latin-1"))
    assert robots.allowed(case["user_agent"], case["url"]) is case.get("ours", case["allowed"])


def test_suites_are_complete():
    assert len(CASES) == 145 and len(RFC_CASES) == 72
    assert len(BYTE_CASES) == 80
    rules = {c["rule"] for c in BYTE_CASES}
    assert {"nul-ends-line", "escape-non-utf8", "ascii-whitespace", "bom", "product-token"} <= rules
    assert [c["id"] for c in BYTE_CASES if "ours" in c] == [76, 77]


def test_protego_differences_are_the_documented_ones():
    """The README lists where protego differs from the reference (and why we parse ourselves).
    If protego changes, this tells us to update that list."""
    differing = sorted(
        c["id"]
        for c in RFC_CASES
        if Protego.parse(c["robots_txt"]).can_fetch(c["url"], c["user_agent"]) is not c["allowed"]
    )
    assert differing == [19, 30, 31, 32, 36, 37, 38, 63, 65, 66]
