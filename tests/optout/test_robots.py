"""robots.txt parsing: tables of (file, agent, url, allowed), real-world traps, and properties."""

import json

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from protego import Protego

from apertus_compliance.optout.cli import RESERVED_EXIT_CODE, optout
from apertus_compliance.optout.robots import (
    MAX_CACHED_AGENTS,
    MAX_PARSED_BYTES,
    looks_binary,
    parse_robots,
    product_token,
)
from apertus_compliance.optout.rules import REGEX_AFTER, CompiledRules, Rule, escape_pattern

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


def test_non_utf8_bytes_stay_bytes_in_rules():
    """A Latin-1 file: the rule byte \\xe9 is escaped to %E9 as robots.cc does, not replaced by U+FFFD."""
    robots = parse_robots("User-agent: GPTBot\nDisallow: /caf\xe9/\n".encode("latin-1"))
    assert robots.invalid_utf8
    assert robots.rules_for("GPTBot")[0].pattern == "/caf%E9/"
    assert not robots.allowed("GPTBot", URL + "/caf%E9/")
    assert robots.allowed("GPTBot", URL + "/caf%EF%BF%BD/")
    assert not parse_robots("User-agent: GPTBot\nDisallow: /caf\xe9/\n".encode()).invalid_utf8


def test_text_and_its_utf8_bytes_parse_alike():
    text = "\ufeffUser-agent: GPTBot\r\nDisallow: /caf\xe9/\u00a0\r\nAllow: /caf\xe9/menu$\n"
    assert parse_robots(text) == parse_robots(text.encode())


def test_a_nul_byte_ends_its_line_and_the_rule_text_shows_what_was_read():
    robots = parse_robots(b"User-agent: GPTBot\nDisallow: /a$\x00 and more\n")
    (rule,) = robots.rules_for("GPTBot")
    assert (rule.pattern, rule.text) == ("/a$", "Disallow: /a$")


@pytest.mark.parametrize(
    "agent, token",
    [
        ("CCBot/2.0", "ccbot"),
        ("CCBot", "ccbot"),
        ("Applebot-Extended", "applebot-extended"),
        ("cohere-training-data-crawler", "cohere-training-data-crawler"),
        ("AI2Bot", "ai2bot"),  # digits kept on purpose (module docstring)
        ("Foo Bar", "foo"),
        ("Kangaroo Bot", "kangaroo"),
        ("Mozilla/5.0 (compatible; GPTBot/1.1; +https://openai.com/gptbot)", "mozilla"),
        ("  GPTBot ", "gptbot"),
        ("*", "*"),
        ("* FooBot", "*"),
        ("*FooBot", ""),
        ("/x", ""),
        ("", ""),
        ("Bot\u00e9", "bot"),
    ],
)
def test_product_token(agent, token):
    assert product_token(agent) == token


def test_agents_are_reduced_to_their_product_token():
    robots = parse_robots("User-agent: *\nAllow: /\n\nUser-agent: CCBot\nDisallow: /\n")
    assert not robots.allowed("CCBot/2.0", URL + "/a")
    assert not robots.allowed("ccbot/1.0 (+https://commoncrawl.org/faq/)", URL + "/a")
    assert robots.allowed("CCBotX/1.0", URL + "/a")
    assert robots.allowed("/CCBot", URL + "/a")  # no product token: the * group


def test_rules_are_compiled_once_per_agent_and_the_cache_is_bounded():
    robots = parse_robots("User-agent: GPTBot\nDisallow: /a\nAllow: /a/b\n\nUser-agent: *\nDisallow: /c\n")
    first = robots.compiled_for("GPTBot")
    assert robots.compiled_for("GPTBot") is first
    assert not robots.allowed("GPTBot", URL + "/a") and robots.compiled_for("GPTBot") is first
    assert robots.compiled_for("CCBot") is robots.compiled_for("Bytespider")  # both get the * group
    for number in range(2 * MAX_CACHED_AGENTS):
        robots.compiled_for(f"Agent{number}")
    assert robots.compiled_for("GPTBot") is not first  # started over once full
    assert robots.allowed("GPTBot", URL + "/a/b") and not robots.allowed("GPTBot", URL + "/a/c")
    assert robots.allowed("GPTBot", URL + "/c") and not robots.allowed("Agent1", URL + "/c")


@pytest.mark.parametrize(
    "content, binary",
    [
        (b"User-agent: *\nDisallow: /\n", False),
        (b"User-agent: *\nDisallow: /\n" + b"\x00" * 300, False),  # NUL padding after the text
        (b"User-agent: *\x00\nDisallow: /private\n" * 20, False),  # a stray NUL per line
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(32)) * 8, True),
        (bytes(range(256)) * 4, True),
        ("User-agent: *".encode("utf-16"), True),
        (b"", False),
    ],
)
def test_looks_binary(content, binary):
    assert looks_binary(content) is binary


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


def test_cli_check_reduces_the_agent_and_answers_every_url(tmp_path):
    """``optout check --robots FILE --agent CCBot/2.0 URL...``: the CCBot group decides, per URL."""
    robots_file = tmp_path / "robots.txt"
    robots_file.write_bytes(b"User-agent: *\nAllow: /\n\nUser-agent: CCBot\nDisallow: /caf\xe9/\n")
    args = ["check", "--robots", str(robots_file), "--agent", "CCBot/2.0"]
    done = CliRunner().invoke(optout, [*args, URL + "/caf%E9/menu", URL + "/about", "--json"])
    assert done.exit_code == RESERVED_EXIT_CODE, done.output
    answers = [json.loads(line) for line in done.output.splitlines()]
    assert [(a["url"], a["allowed"]) for a in answers] == [(URL + "/caf%E9/menu", False), (URL + "/about", True)]
    assert answers[0]["rule"] == {"line": 5, "text": "Disallow: /caf\ufffd/", "allow": False}
    done = CliRunner().invoke(optout, [*args, "--url", URL + "/about"])
    assert (done.exit_code, done.output) == (0, "allowed for ccbot (no rule matches)\n")


def test_cli_check_refuses_an_agent_without_a_product_token(tmp_path):
    robots_file = tmp_path / "robots.txt"
    robots_file.write_text("User-agent: *\nDisallow: /\n")
    done = CliRunner().invoke(optout, ["check", "--robots", str(robots_file), "--agent", "/bot", URL + "/"])
    assert done.exit_code == 2 and "'/bot' has no product token" in done.output


def _reference_matches(path: str, pattern: str) -> bool:
    """robots.cc ``RobotsMatchStrategy::Matches``, transcribed: the set of path prefixes that can
    match the pattern so far; ``$`` is special only at the end."""
    positions = [0]
    for index, char in enumerate(pattern):
        if char == "$" and index == len(pattern) - 1:
            return positions[-1] == len(path)
        if char == "*":
            positions = list(range(positions[0], len(path) + 1))
        else:
            positions = [p + 1 for p in positions if p < len(path) and path[p] == char]
            if not positions:
                return False
    return True


@settings(max_examples=400, deadline=None)
@given(
    patterns=st.lists(st.tuples(st.text("/ab*$.", min_size=1, max_size=7), st.booleans()), max_size=8),
    paths=st.lists(st.text("/ab$.", max_size=9), min_size=1, max_size=8),
)
def test_rule_by_rule_and_regex_matching_agree_with_the_reference(patterns, paths):
    """The two ways CompiledRules matches (string methods first, one regex later) pick the same
    rule, and its verdict is robots.cc's: the longest matching pattern, Allow on a tie."""
    compiled = CompiledRules([Rule("/" + pattern, allow) for pattern, allow in patterns])
    for path in ("/" + p for p in paths):
        by_rule = compiled._scan(path)
        found = compiled.match(path)
        assert by_rule is (None if found is None else compiled.rules[found.lastindex - 1])
        matching = [(len(r.pattern), r.allow) for r in compiled.rules if _reference_matches(path, r.pattern)]
        assert (None if by_rule is None else by_rule.allow) == (max(matching)[1] if matching else None)


def test_a_rule_set_switches_to_one_regex_after_many_paths():
    compiled = CompiledRules([Rule("/a*b$", False), Rule("/a", True), Rule("/a/private", False)])
    paths = ["/a/b", "/a/c", "/a/private/x", "/x", "/ab"] * (REGEX_AFTER // 5 + 2)
    answers = [compiled.decide(path) for path in paths]
    assert compiled._match is not None  # compiled once the threshold was passed
    assert [None if r is None else r.pattern for r in answers[:5]] == ["/a*b$", "/a", "/a/private", None, "/a*b$"]
    assert answers[-5:] == answers[:5]


def _reference_escape(data: bytes) -> str:
    """robots.cc ``MaybeEscapePattern``, transcribed byte by byte."""
    out, i = [], 0
    while i < len(data):
        hex_follows = i + 2 < len(data) and all(chr(b) in "0123456789abcdefABCDEF" for b in data[i + 1 : i + 3])
        if data[i] == ord("%") and hex_follows:
            out.append("%" + data[i + 1 : i + 3].decode().upper())
            i += 3
            continue
        out.append(f"%{data[i]:02X}" if data[i] & 0x80 else chr(data[i]))
        i += 1
    return "".join(out)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from([b"%", b"a", b"F", b"e9", b"g", b"\xe9", b"\xc3\xa9", b"\xff", b"/", b"*", b"$"])))
def test_escape_pattern_is_the_references(pieces):
    data = b"".join(pieces)
    assert escape_pattern(data) == _reference_escape(data)
    if (text := data.decode("utf-8", "ignore")).encode() == data:
        assert escape_pattern(text) == _reference_escape(data)
