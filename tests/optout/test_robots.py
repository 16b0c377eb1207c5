"""robots.txt parsing: tables of (file, agent, url, allowed), real-world traps, and properties."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from protego import Protego

from apertus_compliance.optout.robots import MAX_PARSED_BYTES, parse_robots

URL = "https://example.org"


@pytest.mark.parametrize(
    "robots_txt, agent, path, allowed",
    [
        # Groups: a named group beats *, even when it allows everything.
        ("User-agent: *\nDisallow: /\n\nUser-agent: GPTBot\nAllow: /\n", "GPTBot", "/a", True),
        ("User-agent: *\nDisallow: /\n\nUser-agent: GPTBot\nDisallow:\n", "GPTBot", "/a", True),
        ("User-agent: GPTBot\nDisallow: /\n", "CCBot", "/a", True),
        ("User-agent: GPTBot\nDisallow: /\n", "gptbot", "/a", False),
        # A group for Applebot does not apply to Applebot-Extended (protego gets this wrong).
        ("User-agent: Applebot\nDisallow: /\n", "Applebot-Extended", "/a", True),
        ("User-agent: Applebot-Extended\nDisallow: /\n", "Applebot", "/a", True),
        # Versions and comments after the product token.
        ("User-agent: CCBot/2.0\nDisallow: /\n", "CCBot", "/a", False),
        ("User-agent: Diffbot/0.1 # our friend\nDisallow: /private\n", "Diffbot", "/private/x", False),
        # Sitemap and Crawl-delay between user-agent lines do not split the group.
        ("User-agent: GPTBot\nCrawl-delay: 10\nUser-agent: CCBot\nDisallow: /\n", "GPTBot", "/a", False),
        ("User-agent: GPTBot\nSitemap: https://x/s.xml\nUser-agent: CCBot\nDisallow: /\n", "GPTBot", "/", False),
        # Rules of several groups for one agent are merged.
        ("User-agent: GPTBot\nDisallow: /a\n\nUser-agent: GPTBot\nDisallow: /b\n", "GPTBot", "/b/1", False),
        # Longest match wins; allow wins a tie; wildcards and $.
        ("User-agent: *\nDisallow: /docs/\nAllow: /docs/public/\n", "x", "/docs/public/1", True),
        ("User-agent: *\nDisallow: /docs/\nAllow: /docs/public/\n", "x", "/docs/secret", False),
        ("User-agent: *\nDisallow: /page\nAllow: /page\n", "x", "/page", True),
        ("User-agent: *\nDisallow: /*.pdf$\n", "x", "/a/b.pdf", False),
        ("User-agent: *\nDisallow: /*.pdf$\n", "x", "/a/b.pdf?x=1", True),
        ("User-agent: *\nDisallow: /private*/\n", "x", "/private-area/x", False),
        ("User-agent: *\nDisallow: /a$b\n", "x", "/a$b", False),  # a $ inside a rule is literal
        # Query strings are part of the matched path; fragments are not.
        ("User-agent: *\nDisallow: /*?session=\n", "x", "/p?session=1", False),
        ("User-agent: *\nDisallow: /p/x\n", "x", "/p#/x", True),
        # A byte-order mark, CRLF and CR line ends.
        ("\ufeffUser-agent: GPTBot\r\nDisallow: /\r\n", "GPTBot", "/", False),
        ("User-agent: GPTBot\rDisallow: /\r", "GPTBot", "/", False),
        # Rules before any user-agent line belong to nobody.
        ("Disallow: /\nUser-agent: GPTBot\nAllow: /x\n", "CCBot", "/", True),
        # Empty files and files with no rules allow everything.
        ("", "GPTBot", "/", True),
        ("# nothing here\n", "GPTBot", "/", True),
    ],
)
def test_robots_table(robots_txt, agent, path, allowed):
    assert parse_robots(robots_txt).allowed(agent, URL + path) is allowed


def test_only_the_first_500_kib_is_parsed():
    filler = "# " + "x" * 1000 + "\n"
    head = "User-agent: *\nDisallow: /early\n"
    tail = "User-agent: GPTBot\nDisallow: /\n"
    robots = parse_robots((head + filler * 600 + tail).encode())
    assert robots.truncated
    assert robots.allowed("GPTBot", URL + "/late")
    assert not robots.allowed("GPTBot", URL + "/early")
    assert len((head + filler * 600).encode()) > MAX_PARSED_BYTES


def test_non_utf8_is_read_with_replacement():
    robots = parse_robots("User-agent: GPTBot\nDisallow: /caf\xe9/\n".encode("latin-1"))
    assert robots.replaced_invalid_utf8
    assert not robots.allowed("GPTBot", URL + "/caf%EF%BF%BD/")


def test_extension_lines_are_kept_with_their_group():
    robots = parse_robots("Content-Usage: train-ai=n\nUser-agent: GPTBot\nContent-Signal: ai-train=no\nDisallow:\n")
    assert [(d.key, d.agents) for d in robots.directives] == [
        ("content-usage", ()),
        ("content-signal", ("gptbot",)),
    ]
    assert [d.key for d in robots.directives_for("GPTBot")] == ["content-usage", "content-signal"]
    assert [d.key for d in robots.directives_for("CCBot")] == ["content-usage"]


@settings(max_examples=300, deadline=None)
@given(content=st.binary(max_size=2000), agent=st.text(max_size=20), url=st.text(max_size=60))
def test_never_raises_on_arbitrary_input(content, agent, url):
    robots = parse_robots(content)
    assert isinstance(robots.allowed(agent, url), bool)


_LINE = st.sampled_from(
    [
        "User-agent: GPTBot",
        "User-agent: *",
        "User-agent: CCBot",
        "Disallow: /",
        "Disallow: /a",
        "Allow: /a/b",
        "Disallow: /*.pdf$",
        "Allow: /",
        "Disallow: /a*c",
        "Allow: /a$",
        "",
        "# comment",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(_LINE, max_size=12),
    agent=st.sampled_from(["GPTBot", "CCBot", "Other"]),
    path=st.sampled_from(["/", "/a", "/a/b", "/abc", "/x.pdf", "/a/b/c.pdf", "/ab"]),
)
def test_agrees_with_protego_where_the_rfc_and_protego_agree(lines, agent, path):
    """On files without the constructs where protego deviates (README), both give one answer."""
    text = "\n".join(lines) + "\n"
    ours = parse_robots(text).allowed(agent, URL + path)
    assert ours is Protego.parse(text).can_fetch(URL + path, agent)
