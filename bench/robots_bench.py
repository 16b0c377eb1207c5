"""robots.txt checking: ``RobotsTxt.allowed`` against protego's ``can_fetch``, file by file.

    python bench/robots_bench.py [--files 1000] [--urls 20] [--many-urls 2000] [--seed 7]

Generates robots.txt files with diverse rules (group layouts, agents with versions, hundreds of
paths on big sites, ``*`` and ``$``, queries, percent escapes and non-ASCII bytes, CRLF,
comments, sitemaps, crawl delays) and, per file, URLs built from the same path vocabulary so
that rules do match. Both parsers parse each file once; then every URL is checked for each
agent of the Apertus list, as a crawler or a per-document filter checks many URLs against one
cached file. Timed on one core, best of three, in this process:

- parse: ``parse_robots`` against ``Protego.parse``;
- check: ``RobotsTxt.allowed`` (rules compiled once per agent and kept on the parsed file)
  against ``Protego.can_fetch``, and the way ``allowed`` worked before the cache (the agent's
  rules recompiled on every call), for the ratio the cache removed;
- many URLs: ``--many-urls`` URLs per file against the first 20 files, where rule sets pass
  ``REGEX_AFTER`` paths and are matched with one regular expression (the compile included);
- one file end to end: parse, then every check.

Also counts the checks where the two parsers disagree (protego's known differences, README).
Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import time
from collections.abc import Callable

AGENTS = [  # the Apertus list's product tokens, as a pipeline asks
    "AI2Bot",
    "Applebot-Extended",
    "Bytespider",
    "CCBot",
    "ClaudeBot",
    "cohere-training-data-crawler",
    "Diffbot",
    "FacebookBot",
    "Google-Extended",
    "GPTBot",
    "Meta-ExternalAgent",
    "PanguBot",
    "SomeOtherBot",  # named by no file: gets the * group
]
FILE_AGENTS = [
    *AGENTS[:-1],
    "Googlebot",
    "Bingbot",
    "Slurp",
    "Yandex",
    "Baiduspider",
    "AhrefsBot",
    "SemrushBot",
    "MJ12bot",
    "DotBot",
    "PetalBot",
    "Googlebot-Image",
    "Mediapartners-Google",
    "AdsBot-Google",
    "CCBot/2.0",
    "Diffbot/0.1",
    "GPTBot/1.1",
    "facebookexternalhit",
    "ia_archiver",
]
SEGMENTS = [
    "admin",
    "wp-admin",
    "wp-includes",
    "wp-content",
    "cgi-bin",
    "search",
    "cart",
    "checkout",
    "account",
    "login",
    "user",
    "tag",
    "category",
    "feed",
    "print",
    "api",
    "static",
    "images",
    "media",
    "private",
    "tmp",
    "news",
    "blog",
    "de",
    "fr",
    "en",
    "it",
    "produkte",
    "actualit\xe9s",
    "caf\xe9",
    "\u30cb\u30e5\u30fc\u30b9",
    "%7Euser",
    "page",
    "archive",
    "2023",
    "2024",
    "index.html",
    "index.php",
    "comments",
    "trackback",
    "share",
]
QUERIES = ["?s=", "?sort=", "?page=", "?replytocom=", "?utm_source=", "?lang=", "?id=", "?q=", "?add-to-cart="]
SUFFIXES = [".pdf", ".php", ".json", ".xml", ".jpg", ".doc", ".zip", ".asp", ".cgi"]


def random_path(rng: random.Random) -> str:
    """A site path: a few segments, sometimes a file suffix or a query."""
    path = "/" + "/".join(rng.choice(SEGMENTS) for _ in range(rng.choice((1, 1, 2, 2, 3, 4))))
    roll = rng.random()
    if roll < 0.2:
        path += rng.choice(SUFFIXES)
    elif roll < 0.35:
        path += rng.choice(QUERIES) + str(rng.randrange(100))
    elif roll < 0.6:
        path += "/"
    return path


def random_pattern(rng: random.Random) -> str:
    """A rule pattern as webmasters write them: prefixes, wildcards, anchors, whole-site rules."""
    roll = rng.random()
    if roll < 0.05:
        return "/"
    if roll < 0.08:
        return ""
    if roll < 0.2:
        return "/*" + rng.choice(QUERIES).rstrip("=")
    if roll < 0.3:
        return "/*" + rng.choice(SUFFIXES) + "$"
    if roll < 0.38:
        return "/" + rng.choice(SEGMENTS) + "/*/" + rng.choice(SEGMENTS)
    if roll < 0.43:
        return random_path(rng).rstrip("/") + "$"
    return random_path(rng)


def random_robots(rng: random.Random) -> bytes:
    """One file: 1-10 groups, rule counts from none to hundreds, the odd bytes of real files."""
    newline = "\r\n" if rng.random() < 0.15 else "\n"
    lines: list[str] = []
    if rng.random() < 0.3:
        lines.append("# robots.txt for https://www.example.org/ - please be nice")
    for _ in range(rng.choice((1, 1, 2, 2, 3, 4, 6, 10))):
        agents = rng.sample(FILE_AGENTS, rng.choice((1, 1, 1, 2, 3)))
        if rng.random() < 0.5:
            agents = ["*"] if rng.random() < 0.6 else [*agents, "*"]
        lines += [f"User-agent: {agent}" for agent in agents]
        if rng.random() < 0.1:
            lines.append(f"Crawl-delay: {rng.randrange(1, 30)}")
        size = rng.choice((0, 1, 2, 3, 5, 8, 12, 20, 40, 80, 250))
        for _ in range(size):
            key = "Allow" if rng.random() < 0.2 else "Disallow"
            comment = "  # old section" if rng.random() < 0.03 else ""
            lines.append(f"{key}: {random_pattern(rng)}{comment}")
        lines.append("")
    if rng.random() < 0.6:
        lines.append("Sitemap: https://www.example.org/sitemap.xml")
    encoding = "latin-1" if rng.random() < 0.05 else "utf-8"  # a few files are not UTF-8
    return newline.join(lines).encode(encoding, "replace") + newline.encode()


def url_for(rng: random.Random) -> str:
    """A crawled URL: percent-encoded as crawlers store them."""
    from urllib.parse import quote

    return "https://www.example.org" + quote(random_path(rng), safe="/?=&%~")


def best_of_three(function: Callable[[], object]) -> float:
    times = []
    for _ in range(3):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    from protego import Protego

    from apertus_compliance.optout.robots import parse_robots
    from apertus_compliance.optout.rules import CompiledRules, url_path

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--urls", type=int, default=20, help="URLs per file")
    parser.add_argument("--many-urls", type=int, default=2000, help="URLs per file in the many-URLs step")
    parser.add_argument("--seed", type=int, default=7)
    options = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    rng = random.Random(options.seed)
    files = [random_robots(rng) for _ in range(options.files)]
    urls = [[url_for(rng) for _ in range(options.urls)] for _ in files]
    texts = [content.decode("utf-8", "replace") for content in files]  # protego takes text
    checks = len(files) * options.urls * len(AGENTS)
    rules = sum(text.count("\nAllow:") + text.count("\nDisallow:") for text in texts)

    ours_parse = best_of_three(lambda: [parse_robots(content) for content in files])
    protego_parse = best_of_three(lambda: [Protego.parse(text) for text in texts])
    ours_parsed = [parse_robots(content) for content in files]
    protego_parsed = [Protego.parse(text) for text in texts]

    def ours_check() -> None:
        for robots, file_urls in zip(ours_parsed, urls, strict=True):
            for agent in AGENTS:
                for url in file_urls:
                    robots.allowed(agent, url)

    def protego_check() -> None:
        for robots, file_urls in zip(protego_parsed, urls, strict=True):
            for agent in AGENTS:
                for url in file_urls:
                    robots.can_fetch(url, agent)

    def recompiled_check() -> None:  # RobotsTxt.allowed before the per-agent cache (first 100 files: slow)
        for robots, file_urls in zip(ours_parsed[:100], urls[:100], strict=False):
            for agent in AGENTS:
                for url in file_urls:
                    compiled = CompiledRules(robots.rules_for(agent))
                    found = compiled.match(url_path(url))  # re.compile on each call (re's cache helps)
                    _ = found is None or compiled.rules[found.lastindex - 1].allow

    def ours_end_to_end() -> None:
        for content, file_urls in zip(files, urls, strict=True):
            robots = parse_robots(content)
            for agent in AGENTS:
                for url in file_urls:
                    robots.allowed(agent, url)

    def protego_end_to_end() -> None:
        for text, file_urls in zip(texts, urls, strict=True):
            robots = Protego.parse(text)
            for agent in AGENTS:
                for url in file_urls:
                    robots.can_fetch(url, agent)

    many_files = files[:20]
    many_urls = [[url_for(rng) for _ in range(options.many_urls)] for _ in many_files]
    many_checks = len(many_files) * options.many_urls * len(AGENTS)

    def ours_many() -> None:  # freshly parsed, so each rule set is compiled in the timing
        for content, file_urls in zip(many_files, many_urls, strict=True):
            robots = parse_robots(content)
            for agent in AGENTS:
                for url in file_urls:
                    robots.allowed(agent, url)

    def protego_many() -> None:
        for content, file_urls in zip(many_files, many_urls, strict=True):
            robots = Protego.parse(content.decode("utf-8", "replace"))
            for agent in AGENTS:
                for url in file_urls:
                    robots.can_fetch(url, agent)

    ours_check()  # warm: compile each agent's rules once, as a cached parser has them
    timings = {
        "check": (best_of_three(ours_check), best_of_three(protego_check)),
        "many": (best_of_three(ours_many), best_of_three(protego_many)),
        "end": (best_of_three(ours_end_to_end), best_of_three(protego_end_to_end)),
    }
    recompiled = best_of_three(recompiled_check)
    recompiled_checks = min(100, len(files)) * options.urls * len(AGENTS)
    disagree = sum(
        ours.allowed(agent, url) is not theirs.can_fetch(url, agent)
        for ours, theirs, file_urls in zip(ours_parsed, protego_parsed, urls, strict=True)
        for agent in AGENTS
        for url in file_urls
    )
    disallowed = sum(
        not ours.allowed(agent, url)
        for ours, file_urls in zip(ours_parsed, urls, strict=True)
        for agent in AGENTS
        for url in file_urls
    )

    def us(seconds: float, count: int) -> str:
        return f"{seconds / count * 1e6:.2f} us"

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, one used; ", end="")
    print(f"Python {platform.python_version()}")
    print(
        f"input: {len(files):,} files ({sum(map(len, files)) / 1024:,.0f} KiB, {rules:,} rules), "
        f"{options.urls} URLs per file x {len(AGENTS)} agents = {checks:,} checks, {disallowed:,} disallowed\n"
    )
    print("| step | RobotsTxt | protego | protego / RobotsTxt |")
    print("|---|---|---|---|")
    print(
        f"| parse, per file | {us(ours_parse, len(files))} | {us(protego_parse, len(files))} "
        f"| {protego_parse / ours_parse:.2f}x |"
    )
    ours, theirs = timings["check"]
    print(
        f"| check one URL for one agent, file parsed | {us(ours, checks)} | {us(theirs, checks)} | {theirs / ours:.2f}x |"
    )
    ours, theirs = timings["many"]
    print(
        f"| check one URL for one agent, {options.many_urls:,} URLs per file (20 files, parse and compile "
        f"included) | {us(ours, many_checks)} | {us(theirs, many_checks)} | {theirs / ours:.2f}x |"
    )
    ours, theirs = timings["end"]
    print(
        f"| one file end to end: parse + {options.urls * len(AGENTS)} checks | {us(ours, len(files))} "
        f"| {us(theirs, len(files))} | {theirs / ours:.2f}x |"
    )
    print(
        f"\nbefore the per-agent cache (rules recompiled on every call): {us(recompiled, recompiled_checks)} per check "
        f"(first 100 files), {recompiled / recompiled_checks / (timings['check'][0] / checks):.1f}x the cached check"
    )
    print(f"checks where protego disagrees: {disagree:,} of {checks:,} ({disagree / checks:.2%})")


if __name__ == "__main__":
    main()
