"""Google's robots.txt reference suite (RFC 9309 and Google-only cases), against our parser and protego."""

import json
from pathlib import Path

import pytest
from protego import Protego

from apertus_compliance.optout.robots import parse_robots

CASES = json.loads((Path(__file__).parent / "conformance" / "robots_rfc9309.json").read_text())
RFC_CASES = [c for c in CASES if not c["google_only"]]


def _case_id(case: dict) -> str:
    return f"{case['id']}-{case['test']}"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_reference_case(case):
    """Every case, Google-only ones included, agrees with the reference parser."""
    robots = parse_robots(case["robots_txt"])
    assert robots.allowed(case["user_agent"], case["url"]) is case["allowed"]


def test_suite_is_complete():
    assert len(CASES) == 145 and len(RFC_CASES) == 72


def test_protego_differences_are_the_documented_ones():
    """The README lists where protego differs from the reference (and why we parse ourselves).
    If protego changes, this tells us to update that list."""
    differing = sorted(
        c["id"]
        for c in RFC_CASES
        if Protego.parse(c["robots_txt"]).can_fetch(c["url"], c["user_agent"]) is not c["allowed"]
    )
    assert differing == [19, 30, 31, 32, 36, 37, 38, 63, 65, 66]
