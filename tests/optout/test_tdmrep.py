import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apertus_compliance.optout.rules import CompiledRules, Rule
from apertus_compliance.optout.tdmrep import TdmRepError, parse_tdmrep

SPEC_EXAMPLE = b"""[
  {
    "location": "/images/*",
    "tdm-reservation": 1,
    "tdm-policy": "https://provider.com/policies/policy.json"
  },
  {
    "location": "/images/free/*",
    "tdm-reservation": 0
  },
  {"location": "*.pdf$", "tdm-reservation": 1}
]
"""


@pytest.mark.parametrize(
    "content, expected",
    [
        # (pattern, allow, line) per entry, in file order
        (SPEC_EXAMPLE, [("/images/*", False, 2), ("/images/free/*", True, 7), ("/*.pdf$", False, 11)]),
        (b'[{"location": "/", "tdm-reservation": 1}]', [("/", False, 1)]),
        (b'[{"location": "/", "tdm-reservation": 0}]', [("/", True, 1)]),
        (b'[{"location": "articles/", "tdm-reservation": 1}]', [("/articles/", False, 1)]),  # "/" added
        (b'[{"location": "https://example.com/a/*", "tdm-reservation": 1}]', [("/a/*", False, 1)]),
        ('[{"location": "/caf\u00e9/", "tdm-reservation": 1}]'.encode(), [("/caf%C3%A9/", False, 1)]),
        (b'[{"location": "/%7euser/", "tdm-reservation": 1}]', [("/%7Euser/", False, 1)]),
        (b'[{"location": " /padded ", "tdm-reservation": 1}]', [("/padded", False, 1)]),
        (b'[{"location": "/", "tdm-reservation": 1, "unknown": [1, {"x": null}]}]', [("/", False, 1)]),
        (b'\xef\xbb\xbf[{"location": "/", "tdm-reservation": 1}]', [("/", False, 1)]),  # UTF-8 BOM
        (b"[]", []),
        (b" \n[\n]\n", []),
        (b'\r\n\r\n[{"location": "/x", "tdm-reservation": 1}]', [("/x", False, 3)]),
    ],
)
def test_parse_tdmrep(content, expected):
    rules = parse_tdmrep(content)
    assert [(r.pattern, r.allow, r.line) for r in rules] == expected


def test_parse_tdmrep_accepts_text_with_bom():
    rules = parse_tdmrep('\ufeff[{"location": "/", "tdm-reservation": 1}]')
    assert rules == [Rule("/", False, 1, '{"location":"/","tdm-reservation":1}')]


def test_rule_text_is_the_compact_entry_cut_at_200_characters():
    short, long = parse_tdmrep(
        json.dumps(
            [
                {"location": "/a", "tdm-reservation": 1, "tdm-policy": "https://p.example/x"},
                {"location": "/b", "tdm-reservation": 0, "tdm-policy": "https://p.example/" + "y" * 300},
            ]
        )
    )
    assert short.text == '{"location":"/a","tdm-reservation":1,"tdm-policy":"https://p.example/x"}'
    assert len(long.text) == 200 and long.text.startswith('{"location":"/b","tdm-reservation":0,')


def test_lone_surrogate_escape_stays_encodable():
    (rule,) = parse_tdmrep(b'[{"location": "/\\ud800", "tdm-reservation": 1}]')
    rule.text.encode("utf-8")
    assert rule.pattern == "/%ED%A0%80"


@pytest.mark.parametrize(
    "path, reserved",
    [
        ("/images/cat.png", True),
        ("/images/free/cat.png", False),  # the more specific location wins
        ("/docs/report.pdf", True),
        ("/docs/report.pdf?download=1", False),  # "$" anchors the end
        ("/about", False),  # no location matches: no reservation
    ],
)
def test_most_specific_location_wins(path, reserved):
    rule = CompiledRules(parse_tdmrep(SPEC_EXAMPLE)).decide(path)
    assert (rule is not None and not rule.allow) is reserved


@pytest.mark.parametrize(
    "content, message, line",
    [
        (b"", "empty file", 1),
        (b"  \n ", "empty file", 1),
        (b"{", "invalid JSON", 1),
        (b'[\n{"location": "/", "tdm-reservation": 1}\n', "unterminated array", 3),
        (b"[", "invalid JSON", 1),
        (b'[{"location": "/", "tdm-reservation": 1},]', "invalid JSON", 1),
        (b"[1 2]", "expected ',' or ']'", 1),
        (b"[] []", "extra data", 1),
        (b'{"location": "/", "tdm-reservation": 1}', "not a JSON array", 1),
        (b'"[]"', "not a JSON array", 1),
        (b"\n\nnull", "not a JSON array", 3),
        (b'[\n  {"location": "/", "tdm-reservation": 1},\n  "/private/"\n]', "entry 2: not an object", 3),
        (b'[{"tdm-reservation": 1}]', 'entry 1: "location" missing', 1),
        (b'[{"location": null, "tdm-reservation": 1}]', 'entry 1: "location" not a non-empty string', 1),
        (b'[{"location": 7, "tdm-reservation": 1}]', 'entry 1: "location" not a non-empty string', 1),
        (b'[{"location": "  ", "tdm-reservation": 1}]', 'entry 1: "location" not a non-empty string', 1),
        (b'[{"location": "/"}]', 'entry 1: "tdm-reservation" missing', 1),
        (b'[{"location": "/", "tdm-reservation": 2}]', '"tdm-reservation" not 0 or 1', 1),
        (b'[{"location": "/", "tdm-reservation": "1"}]', '"tdm-reservation" not 0 or 1', 1),
        (b'[{"location": "/", "tdm-reservation": true}]', '"tdm-reservation" not 0 or 1', 1),
        (b'[{"location": "/", "tdm-reservation": 1.0}]', '"tdm-reservation" not 0 or 1', 1),
        (b'[{"location": "/", "tdm-reservation": null}]', '"tdm-reservation" not 0 or 1', 1),
        (b'[\n\n{"location": "/", "tdm-reservation": -1}]', '"tdm-reservation" not 0 or 1', 3),
        (b"[\n\xff]", "not UTF-8", 2),
        (b"\xfe\xff\x00[\x00]", "not UTF-8", 1),  # UTF-16 is not accepted
        (b"[" * 100_000, "nested too deeply", None),
        (b'[{"location": "/", "tdm-reservation": ' + b"1" * 5000 + b"}]", "invalid JSON", None),
    ],
)
def test_malformed_tdmrep_raises_with_line(content, message, line):
    with pytest.raises(TdmRepError) as caught:
        parse_tdmrep(content)
    assert message in str(caught.value)
    assert caught.value.line == line


def test_tdmrep_error_is_a_value_error():
    assert issubclass(TdmRepError, ValueError)
    assert TdmRepError("x").line is None


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 3) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["location", "tdm-reservation", "tdm-policy", "x"]), children, max_size=4)
    ),
    max_leaves=12,
)


def _only_tdmrep_errors(content):
    try:
        rules = parse_tdmrep(content)
    except TdmRepError as error:
        assert error.line is None or error.line >= 1
        return
    assert all(isinstance(rule, Rule) and rule.pattern.startswith("/") for rule in rules)


@given(st.binary())
def test_arbitrary_bytes_raise_only_tdmrep_error(content):
    _only_tdmrep_errors(content)


@given(st.text())
def test_arbitrary_text_raises_only_tdmrep_error(content):
    _only_tdmrep_errors(content)


@given(_JSON)
def test_arbitrary_json_raises_only_tdmrep_error(value):
    _only_tdmrep_errors(json.dumps(value).encode())
