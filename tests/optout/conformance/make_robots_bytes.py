"""Make ``robots_bytes.json``: byte-level robots.txt cases whose verdicts come from Google's parser.

Not a test: run it by hand when cases are added. The verdict of every case (``allowed``) is what
google/robotstxt ``robots.cc`` (commit 22b355f, Apache-2.0) answers, through the 20-line driver
``reference_driver.cc`` that calls ``RobotsMatcher::AllowedByRobots`` on the raw bytes::

    git clone https://github.com/google/robotstxt && apt-get install libabsl-dev
    g++ -O2 -std=c++17 -I robotstxt -o robots-reference reference_driver.cc robotstxt/robots.cc $(pkg-config --libs absl_strings)
    python make_robots_bytes.py ./robots-reference robots_bytes.json

Each case also names the part of ``robots.cc`` that decides it (``reference``). Files are stored
as JSON strings with one character per byte (Latin-1), so ``\\u00e9`` is the byte 0xE9.
"""

import json
import subprocess
import sys


def reference(driver, cases):
    """Verdicts of the compiled reference for (robots bytes, agent, url) triples."""
    data = b"".join(str(len(r)).encode() + b"\n" + r + a.encode() + b"\n" + u.encode() + b"\n" for r, a, u in cases)
    out = subprocess.run([driver], input=data, capture_output=True, check=True).stdout.split()
    if len(out) != len(cases):
        raise SystemExit(f"{driver}: {len(out)} answers for {len(cases)} cases")
    return [o == b"1" for o in out]


U = "http://foo.bar"
CASES = []  # (rule, where, robots bytes, agent, path)


def add(rule, where, robots, agent, path):
    CASES.append((rule, where, robots, agent, path))


# NUL ends a line
W = "robots.cc Parse/GetKeyAndValueFrom: each line is a C string, so strchr/strlen stop at the first NUL"
add("nul-ends-line", W, b"User-agent: FooBot\nDisallow: /a\x00/b\n", "FooBot", "/a/x")
add("nul-ends-line", W, b"User-agent: FooBot\nDisallow: /a\x00/b\n", "FooBot", "/b")
add("nul-ends-line", W, b"User-agent: FooBot\nDisallow: /a$\x00junk\n", "FooBot", "/a")
add("nul-ends-line", W, b"User-agent: FooBot\nDisallow: /a$\x00junk\n", "FooBot", "/ab")
add("nul-ends-line", W, b"User-agent: FooBot\x00BarBot\nDisallow: /\n", "FooBot", "/x")
add("nul-ends-line", W, b"User-agent: FooBot\nDisallow\x00: /\n", "FooBot", "/x")
add("nul-ends-line", W, b"User-agent: FooBot\n\x00Disallow: /\n", "FooBot", "/x")
add("nul-ends-line", W, b"User-agent: FooBot\nAllow: /\x00\nDisallow: /\n", "FooBot", "/x")
add("nul-ends-line", W, b"User-agent: FooBot\nDisallow: /private # \x00 comment\nDisallow: /b\n", "FooBot", "/b")
add("nul-ends-line", W, b"User-agent: FooBot\nDisallow: /\n\x00\x00\x00\x00", "FooBot", "/x")
# Non-ASCII bytes in rules are %-escaped one by one, valid UTF-8 or not
W = "robots.cc MaybeEscapePattern: every octet with the high bit set becomes %XX (upper-case hex)"
add("escape-non-utf8", W, b"User-agent: FooBot\nDisallow: /caf\xe9/\n", "FooBot", "/caf%E9/menu")
add("escape-non-utf8", W, b"User-agent: FooBot\nDisallow: /caf\xe9/\n", "FooBot", "/caf%EF%BF%BD/menu")
add("escape-non-utf8", W, b"User-agent: FooBot\nDisallow: /caf\xe9/\n", "FooBot", "/caf%e9/menu")
add("escape-non-utf8", W, b"User-agent: FooBot\nDisallow: /caf\xc3\xa9/\n", "FooBot", "/caf%C3%A9/menu")
add("escape-non-utf8", W, b"User-agent: FooBot\nDisallow: /\xff\xfe\n", "FooBot", "/%FF%FE")
add("escape-non-utf8", W, b"User-agent: FooBot\nDisallow: /\xe4\xb8\n", "FooBot", "/%E4%B8%AD")
add("escape-non-utf8", W, b"User-agent: FooBot\nDisallow: /*\xe9$\n", "FooBot", "/a/b%E9")
add("escape-non-utf8", W, b"User-agent: FooBot\nDisallow: /*\xe9$\n", "FooBot", "/a/b%E9c")
add("escape-non-utf8", W, b"User-agent: FooBot\nDisallow: /\nAllow: /\xe9t\xe9\n", "FooBot", "/%E9t%E9/x")
add("escape-non-utf8", W, b"User-agent: FooBot\nDisallow: /\nAllow: /\xe9t\xe9\n", "FooBot", "/%C3%A9t%C3%A9/x")
add("escape-non-utf8", W, b"User-agent: FooBot\nDisallow: /\nAllow: /dir\xe9/index.html\n", "FooBot", "/dir%E9/")
W = "robots.cc MaybeEscapePattern: an existing %xx escape is upper-cased, never decoded"
add("escape-normalise", W, b"User-agent: FooBot\nDisallow: /caf%e9/\n", "FooBot", "/caf%E9/")
add("escape-normalise", W, b"User-agent: FooBot\nDisallow: /caf%e9/\n", "FooBot", "/caf%e9/")
add("escape-normalise", W, b"User-agent: FooBot\nDisallow: /a%2fb\n", "FooBot", "/a%2Fb")
add("escape-normalise", W, b"User-agent: FooBot\nDisallow: /a%2fb\n", "FooBot", "/a/b")
add("escape-normalise", W, b"User-agent: FooBot\nDisallow: /100%\n", "FooBot", "/100%")
add("escape-normalise", W, b"User-agent: FooBot\nDisallow: /a%g1\n", "FooBot", "/a%g1")
add("escape-normalise", W, b"User-agent: FooBot\nDisallow: /a%\xe9\n", "FooBot", "/a%%E9")
# Only ASCII whitespace is trimmed
W = "robots.cc StripWhitespaceSlowly: absl::StripAsciiWhitespace (space, \\t, \\v, \\f, \\r, \\n); a no-break space is a rule byte"
add("ascii-whitespace", W, b"User-agent: FooBot\nDisallow: /a$\xc2\xa0\n", "FooBot", "/a")
add("ascii-whitespace", W, b"User-agent: FooBot\nDisallow: /a$\xc2\xa0\n", "FooBot", "/a$%C2%A0")
add("ascii-whitespace", W, b"User-agent: FooBot\nDisallow: /a$\xa0\n", "FooBot", "/a")
add("ascii-whitespace", W, b"User-agent: FooBot\nDisallow: /a$\x0b\n", "FooBot", "/a")
add("ascii-whitespace", W, b"User-agent: FooBot\nDisallow: /a$\x0c\n", "FooBot", "/a")
add("ascii-whitespace", W, b"User-agent: FooBot\nDisallow:\xc2\xa0/\n", "FooBot", "/x")
add("ascii-whitespace", W, b"User-agent: FooBot\nDisallow:\x0b/\n", "FooBot", "/x")
add("ascii-whitespace", W, b"User-agent: FooBot\n\xc2\xa0Disallow: /\n", "FooBot", "/x")
add("ascii-whitespace", W, b"User-agent: FooBot\n\x0c\x0bDisallow: /\n", "FooBot", "/x")
add("ascii-whitespace", W, b"User-agent: FooBot\nDisallow\xc2\xa0: /\n", "FooBot", "/x")
add("ascii-whitespace", W, b"User-agent:\xc2\xa0FooBot\nDisallow: /\n", "FooBot", "/x")
add("ascii-whitespace", W, b"User-agent: FooBot\xc2\xa0\nDisallow: /\n", "FooBot", "/x")
add("ascii-whitespace", W, b"User-agent: FooBot\nDisallow: /a\xe2\x80\x83\n", "FooBot", "/a")
add("ascii-whitespace", W, b"User-agent: FooBot\nDisallow: /a\xe2\x80\x83\n", "FooBot", "/a%E2%80%83b")
W = "robots.cc GetKeyAndValueFrom: without a colon, only space or tab separates key and value (and only between exactly two words)"
add("missing-colon", W, b"User-agent FooBot\nDisallow /\n", "FooBot", "/x")
add("missing-colon", W, b"User-agent\tFooBot\nDisallow\t/\n", "FooBot", "/x")
add("missing-colon", W, b"User-agent: FooBot\nDisallow\xc2\xa0/\n", "FooBot", "/x")
add("missing-colon", W, b"User-agent: FooBot\nDisallow\x0b/\n", "FooBot", "/x")
add("missing-colon", W, b"User-agent: FooBot\nDisallow / /b\n", "FooBot", "/x")
add("missing-colon", W, b"User-agent: FooBot\nDisallow  \t /a\xc2\xa0b\n", "FooBot", "/a%C2%A0b")
# Line endings
W = "robots.cc Parse: CR, LF and CRLF end a line; CRLF counts once"
add("line-endings", W, b"User-agent: FooBot\rDisallow: /\r", "FooBot", "/x")
add("line-endings", W, b"User-agent: FooBot\r\nDisallow: /a\r\n", "FooBot", "/a")
add("line-endings", W, b"User-agent: FooBot\nDisallow: /a\rb\n", "FooBot", "/b")
add("line-endings", W, b"User-agent: FooBot\r\r\nDisallow: /\r\n", "FooBot", "/x")
add("line-endings", W, b"User-agent: FooBot\n\rDisallow: /\n\r", "FooBot", "/x")
add("line-endings", W, b"User-agent: FooBot\x85Disallow: /\n", "FooBot", "/x")
add("line-endings", W, b"User-agent: FooBot\nDisallow: /a\xe2\x80\xa8Allow: /\n", "FooBot", "/a")
add("line-endings", W, b"User-agent: FooBot\nDisallow: /a\x0bb\n", "FooBot", "/a%0Bb")
add("line-endings", W, b"User-agent: FooBot\nDisallow: /a\x0bb\n", "FooBot", "/a\x0bb")
# Byte-order marks
W = "robots.cc Parse: a leading UTF-8 BOM, or any prefix of it, is skipped; elsewhere its bytes are ordinary"
add("bom", W, b"\xef\xbb\xbfUser-agent: FooBot\nDisallow: /\n", "FooBot", "/x")
add("bom", W, b"\xef\xbbUser-agent: FooBot\nDisallow: /\n", "FooBot", "/x")
add("bom", W, b"\xefUser-agent: FooBot\nDisallow: /\n", "FooBot", "/x")
add("bom", W, b"\xef\x11\xbfUser-agent: FooBot\nDisallow: /\n", "FooBot", "/x")
add("bom", W, b"\xef\xbb\xbf\xef\xbb\xbfUser-agent: FooBot\nDisallow: /\n", "FooBot", "/x")
add("bom", W, b"User-agent: FooBot\n\xef\xbb\xbfDisallow: /\n", "FooBot", "/x")
add("bom", W, b"\xfe\xffUser-agent: FooBot\nDisallow: /\n", "FooBot", "/x")
# User-agent product tokens
W = "robots.cc HandleUserAgent/ExtractUserAgent: '*' alone or before whitespace is global; else the leading [a-zA-Z_-] run, compared case-insensitively"
add("product-token", W, b"User-agent: FooBot/2.0\nDisallow: /\n", "FooBot", "/x")
add("product-token", W, b"User-agent: FooBot (+https://foo.bar/bot)\nDisallow: /\n", "FooBot", "/x")
add("product-token", W, b"User-agent: FooBot\xe9\nDisallow: /\n", "FooBot", "/x")
add("product-token", W, b"User-agent: FooBot\xc2\xa0\nDisallow: /\n", "FooBot", "/x")
add("product-token", W, b"User-agent: Foo_Bot-x.1\nDisallow: /\n", "Foo_Bot-x", "/x")
add("product-token", W, b'User-agent: "FooBot"\nDisallow: /\n', "FooBot", "/x")
add("product-token", W, b"User-agent: *\nDisallow: /\nUser-agent: \xe9FooBot\nAllow: /\n", "FooBot", "/x")
add("product-token", W, b"User-agent: * FooBot\nDisallow: /\n", "BarBot", "/x")
add("product-token", W, b"User-agent: *\x0bFooBot\nDisallow: /\n", "BarBot", "/x")
add("product-token", W, b"User-agent: *\xc2\xa0\nDisallow: /\n", "BarBot", "/x")
add("product-token", W, b"User-agent: *FooBot\nDisallow: /\n", "FooBot", "/x")
add("product-token", W, b"User-agent: *\nDisallow: /\nUser-agent: FooBot\nAllow: /\n", "foobot", "/x")
# Digits: the one deliberate departure (see product_token)
add("product-token-digits", W, b"User-agent: *\nAllow: /\nUser-agent: AI2Bot\nDisallow: /\n", "AI2Bot", "/x")
add("product-token-digits", W, b"User-agent: *\nAllow: /\nUser-agent: AI2Bot\nDisallow: /\n", "AI", "/x")
# Long lines: bytes past 16,663 are ignored, before escaping
W = "robots.cc Parse: a line keeps its first kMaxLineLen - 1 = 16,663 bytes"
long_rule = b"Disallow: /" + b"a" * (16663 - len(b"Disallow: /") - 1) + b"\xc3\xa9z"
add("long-line", W, b"User-agent: FooBot\n" + long_rule + b"\n", "FooBot", "/" + "a" * (16663 - 12) + "%C3")
add("long-line", W, b"User-agent: FooBot\n" + long_rule + b"\n", "FooBot", "/" + "a" * (16663 - 12) + "%C2")


def main(driver, out):
    verdicts = reference(driver, [(r, a, U + p) for _, _, r, a, p in CASES])
    rows = []
    for (rule, where, robots, agent, path), allowed in zip(CASES, verdicts, strict=True):
        rows.append(
            {
                "rule": rule,
                "reference": where,
                "robots_txt_bytes": robots.decode("latin-1"),
                "user_agent": agent,
                "url": U + path,
                "allowed": allowed,
            }
        )
    for row in rows:
        if row["rule"] == "product-token-digits":
            row["ours"] = not row["allowed"]
            row["why"] = (
                "deliberate departure: product tokens keep digits here (AI2Bot), the reference cuts "
                "'AI2Bot' in the file to 'AI' and so never applies that group to the agent AI2Bot"
            )
    rows = [dict(id=i, **r) for i, r in enumerate(rows)]
    with open(out, "w") as f:
        json.dump(rows, f, indent=1, ensure_ascii=True)
        f.write("\n")
    print(len(rows), "cases")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
