import pytest
from hypothesis import given
from hypothesis import strategies as st

from apertus_compliance.optout.aipref import (
    content_signal_reserves_training,
    content_usage_reserves_training,
    split_path,
)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("train-ai=n", ("/", "train-ai=n")),
        ("/ train-ai=n", ("/", "train-ai=n")),
        ("/ai-ok/ train-ai=y", ("/ai-ok/", "train-ai=y")),
        ("/ai-ok/\ttrain-ai=y, search=n", ("/ai-ok/", "train-ai=y, search=n")),
        ("  /a/*.pdf$   train-ai=n  ", ("/a/*.pdf$", "train-ai=n")),
        ("/only-a-path/", ("/only-a-path/", "")),
        ("search=yes, ai-train=no", ("/", "search=yes, ai-train=no")),
        ("", ("/", "")),
    ],
)
def test_split_path(value, expected):
    assert split_path(value) == expected


@pytest.mark.parametrize(
    "expression, expected",
    [
        # the current vocabulary (draft-ietf-aipref-vocab-08)
        ("train-ai=n", True),
        ("train-ai=y", False),
        ("train-ai=n, search=y", True),
        ("search=y, ai-use=y, train-ai=n", True),
        ("train-ai=y, search=n", False),
        ("train-ai=n;exceptions=cc-cr", True),  # parameters are ignored
        ("train-ai=y;allow=n", False),
        ('train-ai=n;note="a, train-ai=y"', True),  # a comma inside a string starts no member
        (" \ttrain-ai=y ,search=n", False),
        # older spellings and the hierarchy: the most specific category present decides
        ("train-genai=n", True),
        ("genai=n", True),
        ("ai=n", True),
        ("all=n", True),
        ("tdm=n", True),
        ("ai-train=n", True),  # draft-romm-aipref-contentsignals label
        ("all=n, train-ai=y", False),
        ("tdm=n, genai=y", False),
        ("ai=n, genai=y", False),
        ("all=y, train-genai=n", True),
        ("all=y, ai=n", True),
        ("train-ai=y, train-genai=n", True),
        ("train-ai=n, train-genai=y", True),  # one category under two names: disallow wins
        # tolerated sloppiness
        ("Train-AI=N", True),
        ("train-ai = n", True),
        ("train-ai=n, ???, Bad Member", True),
        ("train-ai=n, train-ai=y", True),  # a repeated key: disallow wins
        ("train-ai=n,", True),
        # decoys: nothing said about training
        ("", None),
        ("search=n", None),
        ("search=y", None),
        ("ai-use=n", None),
        ("ai-input=n", None),
        ("unknown-label=n", None),
        ("bots=n", None),  # not a label of any draft found
        ("train-ai", None),  # a bare key is a boolean, not y/n
        ('train-ai="n"', None),  # a string, not a token
        ("train-ai=no", None),
        ("train-ai=maybe", None),
        ("train-ai=(n)", None),  # an inner list
        ('foo="x, train-ai=n"', None),
        ("train-ai=n extra", None),
        ("not-training=n", None),
        ("xtrain-ai=n", None),
    ],
)
def test_content_usage_reserves_training(expression, expected):
    assert content_usage_reserves_training(expression) is expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("search=yes, ai-train=no, ai-input=no", True),
        ("search=yes, ai-train=yes, ai-input=no", False),
        ("ai-train=no", True),
        ("ai-train=yes", False),
        ("AI-Train = NO", True),
        ("  ai-train=yes  ,search=no", False),
        ("ai-train=yes, ai-train=no", True),
        ("search=no, ai-input=no, ai-train=yes", False),
        # decoys
        ("", None),
        ("search=yes", None),
        ("search=no, ai-input=no", None),
        ("ai-train", None),
        ("ai-train=n", None),  # Content-Signal says yes/no, not y/n
        ("ai-train=maybe", None),
        ("ai-training=no", None),
        ("train-ai=no", None),
    ],
)
def test_content_signal_reserves_training(value, expected):
    assert content_signal_reserves_training(value) is expected


_PIECES = list('train-ai=yn,; \t"\\()*.:/AY') + ["train-ai", "train-genai", "all", "search", "=n", "=y"]


@given(st.one_of(st.text(), st.lists(st.sampled_from(_PIECES)).map("".join)))
def test_content_usage_never_raises(expression):
    assert content_usage_reserves_training(expression) in (True, False, None)


_SIGNAL_PIECES = ["ai-train", "=", "yes", "NO", ",", " ", "search"]


@given(st.one_of(st.text(), st.lists(st.sampled_from(_SIGNAL_PIECES)).map("".join)))
def test_content_signal_never_raises(value):
    assert content_signal_reserves_training(value) in (True, False, None)


@given(st.text())
def test_split_path_round_trip(value):
    path, expression = split_path(value)
    assert path.startswith("/")
    assert expression == expression.strip(" \t")
