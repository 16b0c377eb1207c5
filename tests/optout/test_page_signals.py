import pytest
from hypothesis import given
from hypothesis import strategies as st

from apertus_compliance.optout.page_signals import PageSignal, signals_from_headers, signals_from_html

POLICY = "https://example.com/tdm-policy.json"


def _summary(signals):
    return [(s.signal, s.reserved, s.origin, s.agents, s.policy) for s in signals]


@pytest.mark.parametrize(
    "headers, expected",
    [
        # TDMRep
        ([("tdm-reservation", "1")], [("tdmrep", True, "header", (), None)]),
        ([("TDM-Reservation", " 1 ")], [("tdmrep", True, "header", (), None)]),
        ([("tdm-reservation", "1"), ("tdm-policy", POLICY)], [("tdmrep", True, "header", (), POLICY)]),
        ([("tdm-policy", POLICY), ("tdm-reservation", "1")], [("tdmrep", True, "header", (), POLICY)]),
        ([("tdm-reservation", "0")], [("tdmrep", False, "header", (), None)]),  # frees, reserves nothing
        # IETF aipref
        ([("Content-Usage", "train-ai=n")], [("aipref", True, "header", (), None)]),
        ([("content-usage", "train-ai=y, search=n")], [("aipref", False, "header", (), None)]),
        ([("Content-Usage", "all=n"), ("Content-Usage", "train-ai=y")], [("aipref", False, "header", (), None)]),
        ([("Content-Usage", "search=y"), ("content-usage", "train-ai=n")], [("aipref", True, "header", (), None)]),
        # noai in X-Robots-Tag
        ([("X-Robots-Tag", "noai")], [("noai", True, "header", (), None)]),
        ([("x-robots-tag", "noindex, NOAI, noimageai")], [("noai", True, "header", (), None)]),
        ([("X-Robots-Tag", "GPTBot: noai, noindex")], [("noai", True, "header", ("gptbot",), None)]),
        ([("X-Robots-Tag", "GPTBot: noindex, noai")], [("noai", True, "header", ("gptbot",), None)]),
        ([("X-Robots-Tag", "noai, CCBot: noindex")], [("noai", True, "header", (), None)]),
        (
            [("X-Robots-Tag", "googlebot: nofollow, CCBot: noai, GPTBot: noai")],
            [("noai", True, "header", ("ccbot",), None), ("noai", True, "header", ("gptbot",), None)],
        ),
        (
            [("X-Robots-Tag", "unavailable_after: 25 Jun 2030 15:00:00 PST, noai")],  # not an agent prefix
            [("noai", True, "header", (), None)],
        ),
        ([("X-Robots-Tag", "max-snippet: 20, noai")], [("noai", True, "header", (), None)]),
        (
            [("X-Robots-Tag", "noindex"), ("X-Robots-Tag", "GPTBot: noai")],  # several header lines
            [("noai", True, "header", ("gptbot",), None)],
        ),
        # decoys: nothing here says anything about training
        ([], []),
        ([("X-Robots-Tag", "noindex")], []),
        ([("X-Robots-Tag", "noindex, nofollow, none, noarchive")], []),
        ([("X-Robots-Tag", "noimageai")], []),
        ([("X-Robots-Tag", "GPTBot: noimageai")], []),
        ([("X-Robots-Tag", "noai-later, no-ai, noairline")], []),
        ([("Content-Usage", "search=n")], []),
        ([("Content-Usage", "ai-use=n, unknown=n")], []),
        ([("Content-Usage", "")], []),
        ([("tdm-reservation", "2")], []),
        ([("tdm-reservation", "yes")], []),
        ([("tdm-policy", POLICY)], []),
        ([("X-Content-Usage", "train-ai=n"), ("Robots", "noai"), ("Content-Signal", "ai-train=no")], []),
    ],
)
def test_signals_from_headers(headers, expected):
    assert _summary(signals_from_headers(headers)) == expected


def test_header_signal_text_is_the_line_as_seen():
    (signal,) = signals_from_headers([("X-Robots-Tag", "GPTBot: noai " + "x" * 300)])
    line = "X-Robots-Tag: GPTBot: noai " + "x" * 300
    assert signal == PageSignal("noai", True, "header", line[:200], ("gptbot",))
    assert len(signal.text) == 200


def _page(head: str, body: str = "") -> bytes:
    return f"<!doctype html><html><head><title>t</title>{head}</head><body>{body}</body></html>".encode()


@pytest.mark.parametrize(
    "html, expected",
    [
        # TDMRep
        (_page('<meta name="tdm-reservation" content="1">'), [("tdmrep", True, "meta", (), None)]),
        (_page("<META NAME=TDM-Reservation CONTENT=' 1 '>"), [("tdmrep", True, "meta", (), None)]),
        (
            _page(f'<meta name="tdm-policy" content="{POLICY}"><meta name="tdm-reservation" content="1"/>'),
            [("tdmrep", True, "meta", (), POLICY)],
        ),
        (_page('<meta name="tdm-reservation" content="0">'), [("tdmrep", False, "meta", (), None)]),
        # noai in the robots meta tag or a meta tag named for one crawler
        (_page('<meta name="robots" content="noai, noimageai">'), [("noai", True, "meta", (), None)]),
        (_page('<meta name="ROBOTS" content="NoAI">'), [("noai", True, "meta", (), None)]),
        (_page('<meta name="GPTBot" content="noai">'), [("noai", True, "meta", ("gptbot",), None)]),
        (_page('<meta name="CCBot" content="noindex, noai">'), [("noai", True, "meta", ("ccbot",), None)]),
        (
            _page('<meta name="robots" content="noindex"><meta name="robots" content="noai">'),
            [("noai", True, "meta", (), None)],
        ),
        ("<meta name=robots content=noai>".encode(), [("noai", True, "meta", (), None)]),  # no <head> at all
        (b'\xef\xbb\xbf<meta name="robots" content="noai">\xff\xfe', [("noai", True, "meta", (), None)]),
        (b'<![foo[ x ]]><meta name="robots" content="noai">', [("noai", True, "meta", (), None)]),
        # decoys
        (_page(""), []),
        (_page('<meta name="robots" content="noindex, nofollow">'), []),
        (_page('<meta name="robots" content="noimageai">'), []),
        (_page('<meta name="GPTBot" content="noimageai">'), []),
        (_page('<meta name="tdm-reservation" content="yes">'), []),
        (_page('<meta property="og:description" content="noai">'), []),
        (_page('<meta http-equiv="Content-Usage" content="train-ai=n">'), []),  # no HTML form in the draft
        (_page('<!-- <meta name="robots" content="noai"> -->'), []),
        (_page('<script>var s = \'<meta name="robots" content="noai">\';</script>'), []),
        (_page("", '<meta name="robots" content="noai">'), []),  # in the body
        (b'<head></head><meta name="robots" content="noai">', []),  # after </head>
        (b'<body><meta name="tdm-reservation" content="1">', []),
        (b'<meta name="robots" content="noai"', []),  # cut off before the tag ends
    ],
)
def test_signals_from_html(html, expected):
    assert _summary(signals_from_html(html)) == expected


def test_meta_signal_text_is_the_tag_as_seen():
    (signal,) = signals_from_html(b"<head><META name='robots'   content='noai'></head>")
    assert signal.text == "<META name='robots'   content='noai'>"
    (long,) = signals_from_html(b'<meta name="robots" content="noai" data-x="' + b"y" * 400 + b'">')
    assert len(long.text) == 200


def test_only_the_first_64_kib_are_read():
    meta = b'<meta name="robots" content="noai">'
    padding = b"<!-- padding -->"  # 16 bytes
    assert signals_from_html(b"<head>" + padding * 4096 + meta) == []  # the tag starts after 64 KiB
    assert signals_from_html(b"<head>" + padding * 4000 + meta) != []


def test_pathological_html_is_fast():
    import time

    start = time.perf_counter()
    for html in (b"<a " * 22000, b"<!--" * 16384, b"<a\n" * 22000, b"<a b='" * 11000):
        assert signals_from_html(html) == []
    assert time.perf_counter() - start < 5


@given(st.binary(max_size=4096))
def test_html_never_raises(html):
    assert all(isinstance(s, PageSignal) for s in signals_from_html(html))


_TAGS = [
    "<",
    ">",
    "<meta ",
    "name=",
    "robots",
    "content=",
    "noai",
    "tdm-reservation",
    "1",
    '"',
    "'",
    "<![",
    "<!--",
    "-->",
    "</head>",
    "<body>",
    "<script>",
    "&",
    "#",
    " ",
    "=",
    "/",
]


@given(st.lists(st.sampled_from(_TAGS), max_size=40).map("".join))
def test_tag_soup_never_raises(html):
    assert all(isinstance(s, PageSignal) for s in signals_from_html(html.encode()))


_NAMES = st.sampled_from(["X-Robots-Tag", "Content-Usage", "tdm-reservation", "tdm-policy"]) | st.text()


@given(st.lists(st.tuples(_NAMES, st.text())))
def test_headers_never_raise(headers):
    assert all(isinstance(s, PageSignal) for s in signals_from_headers(headers))
