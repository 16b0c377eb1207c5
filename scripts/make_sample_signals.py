#!/usr/bin/env python3
"""Write the deterministic sample opt-out signals bundled in ``data/sample/signals``.

The output is byte-identical on every run with the same ``--seed`` (and the same warcio and
pyarrow versions): every random choice comes from ``random.Random`` seeded with the seed and a
fixed label, iteration is sorted, no clock time or uuid4 is used, and the WARC's gzip members are
written by zlib with a zero mtime.

Layout (see the README this script writes next to the data):

    hosts.txt                          sample host names, one per line, sorted
    robots/<date>/<host>.txt           robots.txt observed on 2024-07-01 and 2025-01-15
    tdmrep/<host>.json                 W3C TDMRep /.well-known/tdmrep.json files
    warc/pages.warc.gz                 robots.txt fetches and HTML pages with page-level signals
    warc/truncated.warc.gz             the same kind of WARC, cut in the middle of a record
    rightsholders.csv                  rights-holder opt-out requests (target, requested_at, requester)
    parquet/robots-2025-01.parquet     some 2025-01-15 robots.txt files as ``domain, content``
    README.md                          what each file is and which host tests what

Only the standard library and warcio are needed, plus pyarrow (a project dependency) for the one
parquet file. Run from anywhere: ``python scripts/make_sample_signals.py``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "data" / "sample" / "signals"
DEFAULT_SEED = 5
DATES = ("2024-07-01", "2025-01-15")
OLD, NEW = DATES
TOTAL_HOSTS = 300
MANAGED = ("hosts.txt", "robots", "tdmrep", "warc", "rightsholders.csv", "parquet", "README.md")
"""What this script owns under --out; these paths are removed and rewritten on every run."""

UUID_NAMESPACE = uuid.UUID("5f0c6d1e-9a43-4f3b-8c1e-2b7d0e4a9c11")

# The agents of data/agents/apertus-2025-01.json (without `*`), to label the sample.
APERTUS_TOKENS = (
    "AI2Bot",
    "Applebot-Extended",
    "Bytespider",
    "CCBot",
    "ClaudeBot",
    "cohere-training-data-crawler",
    "Diffbot",
    "Meta-ExternalAgent",
    "Google-Extended",
    "GPTBot",
    "PanguBot",
    "FacebookBot",
)

# --------------------------------------------------------------------------------------------
# robots.txt building blocks


def group(*agents: str, disallow: tuple[str, ...] = ("/",), allow: tuple[str, ...] = ()) -> str:
    lines = [f"User-agent: {a}" for a in agents]
    lines += [f"Allow: {p}" for p in allow]
    lines += [f"Disallow: {p}" for p in disallow]
    return "\n".join(lines) + "\n"


PERMISSIVE_TEMPLATES = {
    "wordpress": (
        "User-agent: *\nDisallow: /wp-admin/\nAllow: /wp-admin/admin-ajax.php\n\n"
        "Sitemap: https://{host}/wp-sitemap.xml\n"
    ),
    "shop": (
        "User-agent: *\nDisallow: /cart/\nDisallow: /checkout/\nDisallow: /account/\n"
        "Disallow: /*?sort=\nDisallow: /*?filter=\n\nSitemap: https://{host}/sitemap.xml\n"
    ),
    "empty-disallow": "User-agent: *\nDisallow:\n",
    "allow-all": "User-agent: *\nAllow: /\n\nSitemap: https://{host}/sitemap.xml\n",
    "crawl-delay": "User-agent: *\nCrawl-delay: 5\nDisallow: /search\nDisallow: /tmp/\n",
    "typo3": (
        "User-agent: *\nDisallow: /typo3/\nDisallow: /typo3conf/\nAllow: /typo3conf/ext/\n"
        "Allow: /typo3temp/\n\nSitemap: https://{host}/sitemap.xml\n"
    ),
    "drupal": (
        "# robots.txt\n#\n# This file is to prevent the crawling and indexing of certain parts\n"
        "# of your site by web crawlers and spiders run by sites like Yahoo!\n# and Google.\n\n"
        "User-agent: *\nCrawl-delay: 10\n# Directories\nDisallow: /core/\nDisallow: /profiles/\n"
        "# Paths (clean URLs)\nDisallow: /admin/\nDisallow: /search/\nDisallow: /user/login\n"
        "Disallow: /user/register\n"
    ),
    "seo-bots": (
        "User-agent: AhrefsBot\nUser-agent: MJ12bot\nUser-agent: SemrushBot\nDisallow: /\n\n"
        "User-agent: *\nDisallow: /admin/\nDisallow: /intern/\n"
    ),
    "joomla": (
        "User-agent: *\nDisallow: /administrator/\nDisallow: /bin/\nDisallow: /cache/\nDisallow: /cli/\n"
        "Disallow: /includes/\nDisallow: /installation/\nDisallow: /language/\nDisallow: /logs/\n"
        "Disallow: /tmp/\n"
    ),
    "wix": (
        "# by wix.com\nUser-agent: *\nAllow: /\n\nUser-agent: PetalBot\nDisallow: /\n\n"
        "Sitemap: https://{host}/sitemap.xml\n"
    ),
}
PERMISSIVE_WEIGHTS = {
    "wordpress": 30,
    "shop": 12,
    "empty-disallow": 10,
    "allow-all": 10,
    "crawl-delay": 6,
    "typo3": 8,
    "drupal": 6,
    "seo-bots": 8,
    "joomla": 5,
    "wix": 5,
}

BIG_AI_LIST = (
    "GPTBot",
    "ChatGPT-User",
    "OAI-SearchBot",
    "CCBot",
    "Google-Extended",
    "anthropic-ai",
    "ClaudeBot",
    "Claude-Web",
    "Bytespider",
    "PerplexityBot",
    "Applebot-Extended",
    "FacebookBot",
    "Meta-ExternalAgent",
    "Diffbot",
    "cohere-ai",
    "cohere-training-data-crawler",
    "Omgilibot",
    "Timpibot",
    "ImagesiftBot",
    "PanguBot",
    "AI2Bot",
    "YouBot",
)

# name -> (groups appended to the base file, weight); GPTBot is the most blocked agent.
AI_BLOCKS = {
    "gptbot": ((group("GPTBot"),), 30),
    "gptbot+chatgpt": ((group("GPTBot", "ChatGPT-User"),), 10),
    "gptbot+ccbot": ((group("GPTBot"), group("CCBot")), 14),
    "gptbot+ccbot+google": ((group("GPTBot"), group("CCBot"), group("Google-Extended")), 8),
    "ai-list": ((group(*BIG_AI_LIST),), 14),
    "ccbot": ((group("CCBot"),), 5),
    "google-extended": ((group("Google-Extended"),), 5),
    "claudebot": ((group("ClaudeBot", "anthropic-ai"),), 4),
    "bytespider": ((group("Bytespider"),), 4),
    "gptbot-partial": ((group("GPTBot", disallow=("/artikel/", "/articles/")),), 3),
}
AI_BLOCK_AGENTS = {
    "gptbot": ("GPTBot",),
    "gptbot+chatgpt": ("GPTBot",),
    "gptbot+ccbot": ("CCBot", "GPTBot"),
    "gptbot+ccbot+google": ("CCBot", "GPTBot", "Google-Extended"),
    "ai-list": tuple(sorted(a for a in BIG_AI_LIST if a in APERTUS_TOKENS)),
    "ccbot": ("CCBot",),
    "google-extended": ("Google-Extended",),
    "claudebot": ("ClaudeBot",),
    "bytespider": ("Bytespider",),
    "gptbot-partial": (),
}
ALL_BOTS = "User-agent: *\nDisallow: /\n"
NON_TRAINING_AI = group("PerplexityBot", "OAI-SearchBot", "Amazonbot")


def fmt(text: str, host: str) -> bytes:
    return text.replace("{host}", host).encode("utf-8")


# --------------------------------------------------------------------------------------------
# The hand-made hosts: each tests one thing. Contents are text with {host}, bytes, or None
# (no robots.txt at that date).

CLOUDFLARE_MANAGED = (
    "# As a condition of accessing this website, you agree to abide by the following\n"
    "# content signals:\n"
    "# (a)  If a content-signal = yes, you may collect content for the corresponding use.\n"
    "# (b)  If a content-signal = no, you may not collect content for the corresponding use.\n"
    "# (c)  If the website operator does not include a content signal for a corresponding use,\n"
    "#      the website operator neither grants nor restricts permission via content signal.\n"
    "# search:   building a search index and providing search results.\n"
    "# ai-input: inputting content into one or more AI models (e.g. RAG, grounding).\n"
    "# ai-train: training or fine-tuning AI models.\n\n"
)


def large_robots(host: str) -> bytes:
    """About 600 KiB: a long Googlebot group first, the GPTBot disallow only after 500 KiB."""
    head = (
        f"# robots.txt for {host}\n# Produktkatalog: alte Artikelseiten nicht crawlen\n\n"
        "User-agent: *\nDisallow: /cgi-bin/\nDisallow: /warenkorb/\n\nUser-agent: Googlebot\n"
    )
    lines = [head]
    size = len(head)
    n = 0
    while size < 560_000:
        line = f"Disallow: /katalog/archiv/artikel-{n:06d}.html\n"
        lines.append(line)
        size += len(line)
        n += 1
    tail = "\n# KI-Crawler\nUser-agent: GPTBot\nDisallow: /\n\n"
    lines.append(tail)
    size += len(tail)
    while size < 600 * 1024:
        line = f"# Bestand {n:06d} ausverkauft\n"
        lines.append(line)
        size += len(line)
        n += 1
    return "".join(lines).encode("ascii")


def binary_robots(seed: int) -> bytes:
    rng = random.Random(f"{seed}:binary")
    data = bytearray(rng.randbytes(1536))
    for i in range(0, len(data), 97):
        data[i] = 0
    return b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(data)


LATIN1_ROBOTS = (
    "# Fichier robots.txt de la Librairie du Marais\n"
    "# Accès réservé : les robots d'entraînement d'IA ne sont pas autorisés.\n"
    "# Données protégées - droits réservés (société éditrice).\n\n"
    "User-agent: *\nDisallow: /panier/\n\n"
    "User-agent: GPTBot\nDisallow: /\n"
).encode("latin-1")

HTML_ROBOTS = (
    '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
    "<title>Granite Labs - Page not found</title>\n"
    '<link rel="stylesheet" href="/assets/app.css">\n</head>\n<body>\n'
    '<div id="app"><h1>Oops, we could not find that page.</h1>\n'
    '<p>Try the <a href="/">home page</a> or our <a href="/blog/">blog</a>.</p></div>\n'
    '<script src="/assets/app.js"></script>\n</body>\n</html>\n'
)


@dataclass(frozen=True)
class Case:
    host: str
    old: str | bytes | None
    new: str | bytes | None
    tests: str
    expect: str  # the verdict under apertus-2025-01 for the 2025-01-15 file
    blocks: tuple[str, ...] = ()  # Apertus-list agents disallowed at "/" in the 2025-01-15 file
    blocks_old: tuple[str, ...] | None = None  # same for 2024-07-01 (None: same as blocks)


WP = PERMISSIVE_TEMPLATES["wordpress"]
SHOP = PERMISSIVE_TEMPLATES["shop"]
TYPO3 = PERMISSIVE_TEMPLATES["typo3"]


def robots_cases(seed: int) -> list[Case]:
    return [
        Case(
            "www.example-news.de",
            TYPO3,
            TYPO3 + "\n" + group("GPTBot"),
            "GPTBot block added between the dates (realistic trend)",
            "blocked (GPTBot); retroactive for all crawls",
            ("GPTBot",),
            (),
        ),
        Case(
            "blog.example-news.de",
            WP,
            WP,
            "permissive subdomain of a registered domain whose www. host blocks GPTBot",
            "URL level: allowed; domain level: example-news.de blocked via www.example-news.de",
        ),
        Case(
            "example-verlag.de",
            ALL_BOTS,
            ALL_BOTS,
            "bare registered domain with `User-agent: *` + `Disallow: /` (all bots)",
            "blocked (`*` counts); every agent falls back to the `*` group",
            ("*",),
        ),
        Case(
            "www.lindenkurier.de",
            WP,
            group("CCBot", "GPTBot") + "\n" + WP,
            "one group with two user-agent lines (CCBot, GPTBot) before the `*` group",
            "blocked (CCBot, GPTBot)",
            ("CCBot", "GPTBot"),
            (),
        ),
        Case(
            "www.rheinbote.de",
            group("CCBot/2.0"),
            group("CCBot/2.0"),
            "user-agent line with a version: `User-agent: CCBot/2.0`",
            "blocked (CCBot): the product token is CCBot (protego does not match it)",
            ("CCBot",),
        ),
        Case(
            "www.journal-du-lac.fr",
            WP,
            WP + "\n" + group("Google-Extended"),
            "Google-Extended group added between the dates",
            "blocked (Google-Extended)",
            ("Google-Extended",),
            (),
        ),
        Case(
            "www.harbourside-gazette.co.uk",
            WP,
            WP,
            "permissive www. host; its sibling news. blocks ClaudeBot (registered domain under .co.uk)",
            "URL level: allowed; domain level: harbourside-gazette.co.uk blocked via news.",
        ),
        Case(
            "news.harbourside-gazette.co.uk",
            group("ClaudeBot", "anthropic-ai"),
            group("ClaudeBot", "anthropic-ai"),
            "ClaudeBot + anthropic-ai group on a subdomain under a two-label public suffix",
            "blocked (ClaudeBot)",
            ("ClaudeBot",),
        ),
        Case(
            "www.ironbark-press.com.au",
            SHOP,
            group("GPTBot", allow=("/public/",)) + "\n" + SHOP,
            "`Allow: /public/` under a blocking GPTBot group (longest match wins)",
            "blocked for GPTBot except /public/...; domain level blocked (root disallowed)",
            ("GPTBot",),
            (),
        ),
        Case(
            "www.cucina-nonna.it",
            WP,
            WP + "\n" + group("CCBot", disallow=("/private/",)),
            "path rule only: CCBot `Disallow: /private/`",
            "partial: /private/... blocked for CCBot, / allowed; not a root block",
        ),
        Case(
            "www.maple-outfitters.com",
            SHOP,
            SHOP + "\n" + group("GPTBot", disallow=("/*.pdf$",)),
            "wildcard + end anchor: GPTBot `Disallow: /*.pdf$`",
            "partial: /x/report.pdf blocked for GPTBot, /x/report.pdf?dl=1 and / allowed",
        ),
        Case(
            "www.copper-kitchen.com",
            WP + "\n" + group("Applebot"),
            WP + "\n" + group("Applebot"),
            "group for `Applebot` only; must NOT count for Applebot-Extended",
            "not blocked (Applebot is not Applebot-Extended; protego's substring match wrongly blocks it)",
        ),
        Case(
            "www.bottega-alpina.ch",
            WP,
            WP + "\n" + group("Applebot-Extended"),
            "group for Applebot-Extended",
            "blocked (Applebot-Extended)",
            ("Applebot-Extended",),
            (),
        ),
        Case(
            "www.sonnenstube.ch",
            "User-agent: *\nDisallow: /intern/\n",
            "User-agent: GPTBot\nSitemap: https://{host}/sitemap.xml\nUser-agent: CCBot\nDisallow: /\n\n"
            "User-agent: *\nDisallow: /intern/\n",
            "Sitemap line between two user-agent lines (does not end the group, RFC 9309 2.1)",
            "blocked (GPTBot and CCBot share the group)",
            ("CCBot", "GPTBot"),
            (),
        ),
        Case(
            "www.kestrel-review.org",
            "User-agent: ClaudeBot\nCrawl-delay: 10\nUser-agent: GPTBot\nDisallow: /\n",
            "User-agent: ClaudeBot\nCrawl-delay: 10\nUser-agent: GPTBot\nDisallow: /\n",
            "Crawl-delay line between two user-agent lines (an unknown line does not end the group)",
            "blocked (ClaudeBot and GPTBot share the group); protego reads ClaudeBot as allowed",
            ("ClaudeBot", "GPTBot"),
        ),
        Case(
            "www.atelier-lumiere.fr",
            "\ufeff" + group("GPTBot"),
            "\ufeff" + group("GPTBot"),
            "UTF-8 byte order mark before the first user-agent line",
            "blocked (GPTBot); the BOM must be skipped (protego, given the text with the BOM, misses the group)",
            ("GPTBot",),
        ),
        Case(
            "www.gazzetta-del-borgo.it",
            WP,
            "User-agent: *\nDisallow: /wp-admin/\nContent-Usage: train-ai=n\n"
            "Content-Usage: /ai-ok/ train-ai=y\n\nSitemap: https://{host}/wp-sitemap.xml\n",
            "IETF aipref lines in robots.txt: `Content-Usage: train-ai=n`, `/ai-ok/ train-ai=y`",
            "robots: not blocked; aipref: training reserved except under /ai-ok/",
        ),
        Case(
            "www.cave-des-vignes.fr",
            WP,
            CLOUDFLARE_MANAGED + "User-agent: *\nContent-Signal: search=yes, ai-train=no\nAllow: /\n",
            "Cloudflare Content Signals: `Content-Signal: search=yes, ai-train=no`, no disallow",
            "robots: not blocked; content signal: ai-train reserved",
        ),
        Case(
            "www.zirbelstube.at",
            WP,
            CLOUDFLARE_MANAGED
            + "User-agent: *\nContent-Signal: search=yes,ai-train=no\nAllow: /\n\n"
            + "\n".join(
                group(a)
                for a in (
                    "Amazonbot",
                    "Applebot-Extended",
                    "Bytespider",
                    "CCBot",
                    "ClaudeBot",
                    "Google-Extended",
                    "GPTBot",
                    "meta-externalagent",
                )
            ),
            "Cloudflare managed robots.txt: content signal plus disallows for eight AI agents",
            "blocked (Applebot-Extended, Bytespider, CCBot, ClaudeBot, Google-Extended, GPTBot, "
            "Meta-ExternalAgent); ai-train reserved",
            (
                "Applebot-Extended",
                "Bytespider",
                "CCBot",
                "ClaudeBot",
                "Google-Extended",
                "GPTBot",
                "Meta-ExternalAgent",
            ),
            (),
        ),
        Case(
            "www.granite-labs.io",
            HTML_ROBOTS,
            HTML_ROBOTS,
            "HTML page (soft 404) served as robots.txt",
            "not blocked (unparsable counts as permissive)",
        ),
        Case(
            "www.northwind-analytics.net",
            PERMISSIVE_TEMPLATES["allow-all"],
            binary_robots(seed),
            "binary bytes (PNG header, random bytes with NULs) served as robots.txt",
            "not blocked (unparsable counts as permissive)",
        ),
        Case(
            "www.librairie-du-marais.fr",
            LATIN1_ROBOTS,
            LATIN1_ROBOTS,
            "Latin-1 (not UTF-8) comments, then a GPTBot block",
            "blocked (GPTBot): invalid UTF-8 in comments must not stop parsing",
            ("GPTBot",),
        ),
        Case(
            "www.tannenhof-versand.de",
            SHOP,
            large_robots("www.tannenhof-versand.de"),
            "600 KiB file; its GPTBot disallow starts after the first 500 KiB",
            "not blocked: only the first 500 KiB are parsed (RFC 9309 2.5); protego, with no limit, blocks GPTBot",
        ),
        Case(
            "www.summit-tribune.com",
            WP + "\n" + group("GPTBot"),
            WP,
            "GPTBot block removed between the dates",
            "not blocked in January 2025 (blocked in the 2024-07-01 file)",
            (),
            ("GPTBot",),
        ),
        Case(
            "www.osteria-del-porto.it",
            None,
            group("GPTBot") + "\n" + group("CCBot") + "\n" + WP,
            "robots.txt appears between the dates (none on 2024-07-01)",
            "blocked (GPTBot, CCBot)",
            ("CCBot", "GPTBot"),
            (),
        ),
        Case(
            "www.wiesenmarkt.de",
            group("GPTBot") + "\n" + SHOP,
            None,
            "robots.txt disappears between the dates; 404 in the WARC",
            "not blocked in January 2025 (no robots.txt: permissive)",
            (),
            ("GPTBot",),
        ),
        Case(
            "www.pioneer-forum.org",
            None,
            None,
            "no robots.txt at either date; 503 in the WARC",
            "not blocked (Apertus: unreachable counts as permissive; RFC 9309 2.3.1.4 would read a 5xx "
            "as complete disallow)",
        ),
        Case(
            "www.bluebell-digest.com",
            "user-agent: gptbot # OpenAI\ndisallow: /\n",
            "user-agent: gptbot # OpenAI\ndisallow: /\n",
            "lower-case keys and agent, comment after the agent",
            "blocked (GPTBot): keys and agents are case-insensitive",
            ("GPTBot",),
        ),
        Case(
            "www.heidebote.de",
            WP,
            "User-agent: GPTBot\nDissallow: /\n\n" + WP,
            "misspelt `Dissallow: /` for GPTBot",
            "blocked (GPTBot): Google's parser accepts common misspellings of disallow",
            ("GPTBot",),
            (),
        ),
        Case(
            "www.riverside-health.org",
            "User-agent: *\nDisallow: /\n\nUser-agent: Googlebot\nUser-agent: Bingbot\nAllow: /\n",
            "User-agent: *\nDisallow: /\n\nUser-agent: Googlebot\nUser-agent: Bingbot\nAllow: /\n",
            "all bots disallowed except search engines",
            "blocked (`*`; every listed agent falls back to `*`)",
            ("*",),
        ),
        Case(
            "www.oakridge-academy.org",
            PERMISSIVE_TEMPLATES["empty-disallow"],
            PERMISSIVE_TEMPLATES["empty-disallow"],
            "`User-agent: *` + empty `Disallow:` (allows everything)",
            "not blocked",
        ),
        Case(
            "www.viaggi-toscana.it",
            WP,
            WP + "\n" + group("PerplexityBot", "Timpibot"),
            "blocks PerplexityBot and Timpibot only",
            "not blocked under apertus-2025-01; blocked under ai-robots-txt-training (Timpibot)",
            (),
            (),
        ),
        Case(
            "www.meadow-press.co.uk",
            WP,
            group(*BIG_AI_LIST) + "\n" + WP,
            "long ai.robots.txt-style group of 22 AI agents",
            "blocked (AI2Bot, Applebot-Extended, Bytespider, CCBot, ClaudeBot, Diffbot, FacebookBot, "
            "Google-Extended, GPTBot, Meta-ExternalAgent, PanguBot, cohere-training-data-crawler)",
            AI_BLOCK_AGENTS["ai-list"],
            (),
        ),
        Case(
            "www.alpenfibel.at",
            group("Meta-ExternalAgent", "FacebookBot") + "\n" + TYPO3,
            group("Meta-ExternalAgent", "FacebookBot") + "\n" + TYPO3,
            "Meta-ExternalAgent + FacebookBot (FacebookBot only in the Apertus pipeline code)",
            "blocked (FacebookBot, Meta-ExternalAgent)",
            ("FacebookBot", "Meta-ExternalAgent"),
        ),
        Case(
            "www.wattle-travel.com.au",
            "User-agent: GPTBot\nDisallow:\n\nUser-agent: *\nDisallow: /\n",
            "User-agent: GPTBot\nDisallow:\n\nUser-agent: *\nDisallow: /\n",
            "GPTBot explicitly allowed (own empty group) but `*` disallowed",
            "blocked via `*` (GPTBot itself is allowed; other listed agents fall back to `*`)",
            ("*",),
        ),
        Case("www.kiesel-werkstatt.de", b"", b"", "empty (0-byte) robots.txt", "not blocked"),
        Case(
            "www.echo-savoyard.fr",
            WP,
            WP + "\n" + group("PanguBot", "cohere-training-data-crawler", "AI2Bot", "Diffbot"),
            "less common agents: PanguBot, cohere-training-data-crawler, AI2Bot, Diffbot",
            "blocked (AI2Bot, Diffbot, PanguBot, cohere-training-data-crawler); AI2Bot's RFC 9309 product token "
            "is `AI` (a digit ends a token), so match on tokens, not full names",
            ("AI2Bot", "Diffbot", "PanguBot", "cohere-training-data-crawler"),
            (),
        ),
        Case(
            "www.silver-garage.com",
            SHOP + "\n" + group("Bytespider"),
            SHOP + "\n" + group("Bytespider"),
            "Bytespider only",
            "blocked (Bytespider)",
            ("Bytespider",),
        ),
    ]


# --------------------------------------------------------------------------------------------
# TDMRep files, WARC pages and rights-holder rows (on hosts of their own or of the cases above)


def tdmrep_files() -> dict[str, tuple[str, str]]:
    """host -> (file content, what it tests)."""

    def dump(entries: list[dict]) -> str:
        return json.dumps(entries, indent=2, ensure_ascii=False) + "\n"

    return {
        "www.journal-du-lac.fr": (
            dump(
                [
                    {
                        "location": "/*",
                        "tdm-reservation": 1,
                        "tdm-policy": "https://www.journal-du-lac.fr/.well-known/tdm-policy.json",
                    },
                ]
            ),
            "whole site reserved, with a tdm-policy",
        ),
        "www.echo-cevenol.fr": (
            dump(
                [
                    {"location": "/", "tdm-reservation": 0},
                    {
                        "location": "/articles/*",
                        "tdm-reservation": 1,
                        "tdm-policy": "https://www.echo-cevenol.fr/licences/tdm.json",
                    },
                ]
            ),
            "mixed: / free, /articles/* reserved",
        ),
        "www.revue-normande.fr": (
            dump(
                [
                    {
                        "location": "/articles/*",
                        "tdm-reservation": 1,
                        "tdm-policy": "https://www.revue-normande.fr/tdm/policy.json",
                    },
                    {"location": "/articles/libre/*", "tdm-reservation": 0},
                ]
            ),
            "most specific wins: /articles/libre/* free inside reserved /articles/*",
        ),
        "www.maison-provence.fr": (
            dump(
                [
                    {"location": "/*.pdf$", "tdm-reservation": 1},
                    {"location": "/", "tdm-reservation": 0},
                ]
            ),
            "`$` anchor: only PDFs reserved",
        ),
        "www.cuisine-bretonne.fr": (
            dump(
                [
                    {"location": "/*", "tdm-reservation": 0},
                ]
            ),
            "nothing reserved (decoy); a WARC page's meta tag reserves one page",
        ),
        "www.journal-savoyard.fr": (
            dump(
                [
                    {
                        "location": "/*",
                        "tdm-reservation": 1,
                        "tdm-policy": "https://www.journal-savoyard.fr/tdm-policy.json",
                    },
                ]
            ),
            "whole site reserved; a WARC page's `tdm-reservation: 0` header overrides it",
        ),
        "www.editions-du-port.fr": ("[]\n", "empty array (no reservation); a WARC page's header reserves"),
        "www.voyages-soleil.fr": (
            '[\n  {"location": "/*", "tdm-reservation": 1,\n    "tdm-policy": "https://www.voyages-soleil.fr/tdm.json",}\n',
            "malformed JSON (trailing comma, no closing bracket): must be reported, counts as no file",
        ),
        "www.la-vieille-presse.fr": (
            dump(
                [
                    {"location": "/archives/*", "tdm-policy": "https://www.la-vieille-presse.fr/tdm.json"},
                    {"location": "/actualites/*", "tdm-reservation": 1},
                ]
            ),
            "first entry lacks tdm-reservation: reported with its line, the whole file counts as unparsable (permissive)",
        ),
        "example-verlag.de": (
            dump(
                [
                    {"location": "/*", "tdm-reservation": 1, "tdm-policy": "https://example-verlag.de/tdm-lizenz.json"},
                ]
            ),
            "German publisher: whole site reserved (robots.txt blocks all bots too)",
        ),
    }


@dataclass(frozen=True)
class Page:
    url: str
    headers: tuple[tuple[str, str], ...]
    meta: str  # extra <head> markup
    tests: str
    expect: str


PAGES = (
    Page(
        "https://www.stadtanzeiger-nord.de/lokales/2025/01/neujahrsempfang.html",
        (("X-Robots-Tag", "noai"),),
        "",
        "header `X-Robots-Tag: noai`",
        "reserved (all agents)",
    ),
    Page(
        "https://www.copper-kitchen.com/recipes/sourdough-starter.html",
        (("X-Robots-Tag", "GPTBot: noai"),),
        "",
        "agent-scoped header `X-Robots-Tag: GPTBot: noai`",
        "reserved for GPTBot only",
    ),
    Page(
        "https://www.editions-du-port.fr/catalogue/le-phare-de-brume.html",
        (("tdm-reservation", "1"), ("tdm-policy", "https://www.editions-du-port.fr/tdm-policy.json")),
        "",
        "headers `tdm-reservation: 1` + `tdm-policy` (host's tdmrep.json is [])",
        "reserved (TDM)",
    ),
    Page(
        "https://www.kestrel-review.org/essays/on-slow-reading.html",
        (("Content-Usage", "train-ai=n"),),
        "",
        "aipref header `Content-Usage: train-ai=n`",
        "reserved (train-ai)",
    ),
    Page(
        "https://www.cucina-nonna.it/ricette/tiramisu-della-nonna.html",
        (),
        '<meta name="robots" content="noai, noimageai">',
        'meta `robots` = "noai, noimageai"',
        "reserved (all agents)",
    ),
    Page(
        "https://www.cuisine-bretonne.fr/recettes/galettes-complete.html",
        (),
        '<meta name="tdm-reservation" content="1">\n'
        '<meta name="tdm-policy" content="https://www.cuisine-bretonne.fr/tdm.json">',
        "meta `tdm-reservation` = 1 while the host's tdmrep.json reserves nothing",
        "reserved (meta overrides the file)",
    ),
    Page(
        "https://www.journal-savoyard.fr/articles/2025/01/ouverture-des-pistes.html",
        (("tdm-reservation", "0"),),
        "",
        "header `tdm-reservation: 0` while the host's tdmrep.json reserves /*",
        "not reserved (header overrides the file)",
    ),
    Page(
        "https://www.bluebell-digest.com/weekly/issue-212.html",
        (("X-Robots-Tag", "noindex"),),
        "",
        "decoy: `X-Robots-Tag: noindex` only",
        "not reserved",
    ),
    Page(
        "https://www.granite-labs.io/blog/release-notes-4-2.html",
        (),
        '<meta name="robots" content="noindex, nofollow">',
        'decoy: meta robots "noindex, nofollow"',
        "not reserved",
    ),
    Page(
        "https://www.maple-outfitters.com/guides/layering-for-winter.html",
        (("tdm-reservation", "0"),),
        "",
        "decoy: header `tdm-reservation: 0`",
        "not reserved",
    ),
    Page(
        "https://www.ironbark-press.com.au/public/photo-essay-kimberley.html",
        (("X-Robots-Tag", "noimageai"),),
        "",
        "`X-Robots-Tag: noimageai` (images only)",
        "not reserved for text (images only)",
    ),
    Page(
        "https://www.harbourside-gazette.co.uk/features/tide-tables.html",
        (("Content-Usage", "train-ai=y"),),
        "",
        "decoy: `Content-Usage: train-ai=y` (explicit permission)",
        "not reserved",
    ),
    Page(
        "https://www.viaggi-toscana.it/itinerari/val-d-orcia.html",
        (("Content-Usage", "train-ai=n, foo-label=y"),),
        "",
        "`Content-Usage: train-ai=n, foo-label=y` (unknown label must be tolerated)",
        "reserved (train-ai)",
    ),
    Page(
        "https://www.summit-tribune.com/opinion/ridge-line.html",
        (("X-Robots-Tag", "PerplexityBot: noai"),),
        "",
        "`X-Robots-Tag: PerplexityBot: noai` (agent in neither list)",
        "not reserved for listed agents",
    ),
    Page(
        "https://www.osteria-del-porto.it/menu/pesce-del-giorno.html",
        (),
        '<META NAME="ROBOTS" CONTENT="NOAI">',
        "upper-case meta `ROBOTS` = `NOAI`",
        "reserved (all agents)",
    ),
    Page(
        "https://www.alpenfibel.at/wandern/zirbenweg.html",
        (("X-Robots-Tag", "noindex"), ("X-Robots-Tag", "noai")),
        "",
        "two `X-Robots-Tag` headers (noindex, noai)",
        "reserved (all agents)",
    ),
    Page(
        "https://blog.example-news.de/2025/01/wintergarten.html",
        (),
        "",
        "no page-level signal (its host is allowed, its registered domain blocked via www.)",
        "not reserved at page level",
    ),
)

# Robots.txt fetches in the WARC: host -> status. 200 bodies are the 2025-01-15 files.
WARC_ROBOTS = {
    "www.example-news.de": 200,
    "www.rheinbote.de": 200,
    "www.copper-kitchen.com": 200,
    "www.atelier-lumiere.fr": 200,
    "www.granite-labs.io": 200,
    "www.librairie-du-marais.fr": 200,
    "www.sonnenstube.ch": 200,
    "www.cave-des-vignes.fr": 200,
    "www.wiesenmarkt.de": 404,
    "www.pioneer-forum.org": 503,
}

RIGHTSHOLDERS = (
    ("example-verlag.de", "2024-03-12", "RH-0001", "whole registered domain"),
    ("https://www.journal-savoyard.fr/articles/", "2024-06-30", "RH-0002", "URL prefix"),
    ("lindenkurier.de", "2024-09-05", "RH-0003", "whole registered domain"),
    ("https://www.copper-kitchen.com/recipes/", "2024-11-20", "RH-0004", "URL prefix"),
    ("harbourside-gazette.co.uk", "2025-01-10", "RH-0005", "registered domain under .co.uk"),
    ("https://www.cucina-nonna.it/ricette/", "2025-01-31", "RH-0006", "URL prefix, on the cut-off date"),
    ("ironbark-press.com.au", "2025-02-14", "RH-0007", "after 2025-01-31"),
    ("https://blog.example-news.de/", "2025-03-03", "RH-0008", "one subdomain only, after the cut-off"),
    ("cave-des-vignes.fr", "2025-05-21", "RH-0009", "after the cut-off"),
    ("https://www.sonnenstube.ch/magazin/", "2025-08-08", "RH-0010", "URL prefix, after the cut-off"),
    ("summit-tribune.com", "", "RH-0011", "empty requested_at: bad input, must be reported"),
    ("https://www.echo-cevenol.fr/articles/", "2025-11-30", "RH-0012", "URL prefix, after the cut-off"),
)

# Hosts that exist only for page/TDM signals: they get a plain permissive robots.txt.
SIGNAL_ONLY_HOSTS = ("www.stadtanzeiger-nord.de",)

# --------------------------------------------------------------------------------------------
# Made-up host names (any resemblance to a real site is accidental)

WORDS = {
    "de": (
        (
            "alpen",
            "bach",
            "berg",
            "birken",
            "bunt",
            "eichen",
            "elb",
            "feld",
            "fichten",
            "fluss",
            "hasel",
            "heide",
            "hirsch",
            "insel",
            "kiesel",
            "klee",
            "linden",
            "main",
            "moor",
            "mühlen",
            "nord",
            "ost",
            "rhein",
            "see",
            "sonnen",
            "stadt",
            "tal",
            "tannen",
            "wald",
            "weiden",
            "wiesen",
            "zirbel",
        ),
        (
            "anzeiger",
            "apotheke",
            "blick",
            "bote",
            "buchhandlung",
            "fibel",
            "garten",
            "hof",
            "kontor",
            "kueche",
            "kurier",
            "laden",
            "markt",
            "praxis",
            "reisen",
            "rundschau",
            "schreinerei",
            "stube",
            "technik",
            "verlag",
            "werkstatt",
            "wissen",
            "zeitung",
            "handwerk",
        ),
    ),
    "fr": (
        (
            "atelier",
            "cave",
            "cuisine",
            "echo",
            "fromagerie",
            "gazette",
            "jardin",
            "journal",
            "librairie",
            "maison",
            "voyages",
            "boulangerie",
            "cahiers",
            "chronique",
            "epicerie",
            "lettres",
            "revue",
            "velo",
            "theatre",
            "marche",
        ),
        (
            "alpin",
            "bretonne",
            "cevenol",
            "des-vignes",
            "du-lac",
            "du-marais",
            "du-nord",
            "du-port",
            "lumiere",
            "lyonnais",
            "normand",
            "provence",
            "savoyard",
            "soleil",
            "des-tilleuls",
            "de-la-loire",
            "du-jura",
            "des-collines",
            "d-azur",
            "des-halles",
        ),
    ),
    "it": (
        (
            "bici",
            "bottega",
            "cantina",
            "casa",
            "cucina",
            "gazzetta",
            "giornale",
            "libreria",
            "officina",
            "osteria",
            "sartoria",
            "viaggi",
            "cronaca",
            "forno",
            "orto",
            "rivista",
            "teatro",
            "vetreria",
        ),
        (
            "alpina",
            "del-borgo",
            "del-lago",
            "del-porto",
            "del-sole",
            "della-valle",
            "ligure",
            "lombarda",
            "nonna",
            "sarda",
            "toscana",
            "veneta",
            "emiliana",
            "dei-colli",
            "del-mare",
            "friulana",
        ),
    ),
    "en": (
        (
            "bluebell",
            "copper",
            "coastal",
            "granite",
            "harbour",
            "ironbark",
            "kestrel",
            "lakeside",
            "maple",
            "meadow",
            "northwind",
            "oakridge",
            "pioneer",
            "riverside",
            "silver",
            "summit",
            "wattle",
            "heron",
            "juniper",
            "larch",
            "marlow",
            "saltmarsh",
            "thistle",
            "willow",
            "cobalt",
            "driftwood",
        ),
        (
            "academy",
            "analytics",
            "digest",
            "forum",
            "garage",
            "gazette",
            "health",
            "journal",
            "kitchen",
            "labs",
            "outfitters",
            "press",
            "review",
            "supply",
            "times",
            "travel",
            "tribune",
            "works",
            "almanac",
            "bikes",
            "clinic",
            "dispatch",
            "studio",
            "ledger",
        ),
    ),
}
# (suffix, language, weight)
SUFFIXES = (
    ("com", "en", 40),
    ("org", "en", 12),
    ("net", "en", 6),
    ("io", "en", 4),
    ("co.uk", "en", 14),
    ("com.au", "en", 9),
    ("de", "de", 36),
    ("at", "de", 6),
    ("ch", "de", 7),
    ("ch", "fr", 4),
    ("ch", "it", 3),
    ("fr", "fr", 26),
    ("be", "fr", 4),
    ("it", "it", 20),
)
SUBDOMAINS = ("blog", "shop", "news", "forum", "docs", "m", "jobs", "support", "magazin", "presse")


def ascii_label(word: str) -> str:
    return word.replace("ü", "ue").replace("ö", "oe").replace("ä", "ae").replace("ß", "ss")


def registered_domain(host: str) -> str:
    labels = host.split(".")
    two_label = ".".join(labels[-2:]) in ("co.uk", "com.au")
    return ".".join(labels[-3:] if two_label else labels[-2:])


def make_filler_hosts(seed: int, taken: set[str], count: int) -> list[str]:
    rng = random.Random(f"{seed}:hosts")
    suffix_weights = [w for _, _, w in SUFFIXES]
    taken_domains = {registered_domain(h) for h in taken}
    hosts: list[str] = []
    while len(hosts) < count:
        suffix, lang, _ = rng.choices(SUFFIXES, weights=suffix_weights)[0]
        first, second = WORDS[lang]
        a, b = ascii_label(rng.choice(first)), ascii_label(rng.choice(second))
        if lang == "de" and rng.random() < 0.6:
            name = a + b
        else:
            name = f"{a}-{b}"
        domain = f"{name}.{suffix}"
        if domain in taken_domains:
            continue
        taken_domains.add(domain)
        roll = rng.random()
        if roll < 0.45:
            labels = ["www"]
        elif roll < 0.72:
            labels = [""]
        elif roll < 0.92:
            labels = ["www", rng.choice(SUBDOMAINS)]
        else:
            labels = ["www", *rng.sample(SUBDOMAINS, 2)]
        if suffix == "ch" and rng.random() < 0.3:
            labels.append(lang)  # de.example.ch, fr.example.ch
        for label in sorted(set(labels)):
            host = f"{label}.{domain}" if label else domain
            if host not in taken and len(hosts) < count:
                hosts.append(host)
    return sorted(hosts)


# --------------------------------------------------------------------------------------------
# Filler robots.txt: realistic proportions and changes between the two dates


@dataclass(frozen=True)
class Robots:
    old: bytes | None
    new: bytes | None
    kind_old: str
    kind_new: str
    blocks_old: tuple[str, ...]
    blocks_new: tuple[str, ...]


def weighted(rng: random.Random, table: dict[str, int]) -> str:
    names = sorted(table)
    return rng.choices(names, weights=[table[n] for n in names])[0]


def filler_robots(seed: int, host: str, plain: bool = False) -> Robots:
    rng = random.Random(f"{seed}:robots:{host}")
    base_name = weighted(rng, PERMISSIVE_WEIGHTS)
    base = PERMISSIVE_TEMPLATES[base_name]
    roll = rng.random()
    if plain:
        body = fmt(base, host)
        return Robots(body, body, base_name, base_name, (), ())
    if roll < 0.14:  # no robots.txt at all (404 or unreachable)
        present_old = rng.random() < 0.15  # it disappeared
        old = fmt(base, host) if present_old else None
        return Robots(old, None, base_name if present_old else "none", "none", (), ())
    kind_roll = rng.random()
    if kind_roll < 0.015:
        new_text, kind, blocks = ALL_BOTS, "all-bots", ("*",)
    elif kind_roll < 0.07:
        kind = weighted(rng, {k: w for k, (_, w) in AI_BLOCKS.items()})
        groups = "\n".join(AI_BLOCKS[kind][0])
        new_text = (groups + "\n" + base) if rng.random() < 0.5 else (base + "\n" + groups)
        blocks = AI_BLOCK_AGENTS[kind]
    elif kind_roll < 0.085:
        new_text, kind, blocks = base + "\n" + NON_TRAINING_AI, "non-training-ai", ()
    else:
        new_text, kind, blocks = base, base_name, ()
    new = fmt(new_text, host)
    change = rng.random()
    if blocks and blocks != ("*",) and change < 0.45:  # the block was added after 2024-07-01
        return Robots(fmt(base, host), new, base_name, kind, (), blocks)
    if not blocks and change < 0.025:  # a GPTBot block was removed
        old_text = base + "\n" + group("GPTBot")
        return Robots(fmt(old_text, host), new, "gptbot", kind, ("GPTBot",), blocks)
    if change > 0.97:  # the file appeared
        return Robots(None, new, "none", kind, (), blocks)
    if change > 0.95 and base_name in ("wordpress", "shop", "allow-all", "typo3"):  # a cosmetic edit
        old_text = new_text.replace("sitemap.xml", "sitemap_index.xml").replace("wp-sitemap", "sitemap_index")
        return Robots(fmt(old_text, host), new, kind, kind, blocks, blocks)
    return Robots(new, new, kind, kind, blocks, blocks)


# --------------------------------------------------------------------------------------------
# Writers


def write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def record_id(*parts: str) -> str:
    return f"<urn:uuid:{uuid.uuid5(UUID_NAMESPACE, '|'.join(parts))}>"


def html_page(url: str, meta: str, seed: int) -> bytes:
    rng = random.Random(f"{seed}:page:{url}")
    slug = url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".html").replace("-", " ")
    title = slug.title() if slug else "Home"
    words = ("sample", "text", "about", "the", "region", "with", "notes", "and", "pictures", "for", "readers")
    paragraphs = "\n".join(
        "<p>" + " ".join(rng.choice(words) for _ in range(rng.randint(18, 40))).capitalize() + ".</p>"
        for _ in range(rng.randint(2, 4))
    )
    head = '<meta charset="utf-8">\n' + (meta + "\n" if meta else "")
    return (
        f"<!DOCTYPE html>\n<html>\n<head>\n{head}<title>{title}</title>\n</head>\n<body>\n"
        f"<article>\n<h1>{title}</h1>\n{paragraphs}\n</article>\n</body>\n</html>\n"
    ).encode("utf-8")


def warc_records(robots_new: dict[str, bytes | None], seed: int) -> list[tuple[str, str, StatusAndHeaders, bytes, str]]:
    """(uri, date, http headers, body, record id) for every response record, in file order."""
    records = []
    minute = 0
    for host in sorted(WARC_ROBOTS):
        status = WARC_ROBOTS[host]
        uri = f"https://{host}/robots.txt"
        date = f"2025-01-14T{8 + minute // 60:02d}:{minute % 60:02d}:{(minute * 7) % 60:02d}Z"
        minute += 3
        if status == 200:
            body = robots_new[host] or b""
            ctype = (
                "text/html; charset=utf-8"
                if body.lstrip().startswith(b"<!DOCTYPE")
                else ("text/plain; charset=iso-8859-1" if host == "www.librairie-du-marais.fr" else "text/plain")
            )
            headers = [("Content-Type", ctype)]
            reason = "200 OK"
        elif status == 404:
            body = b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>\n<body><h1>Not Found</h1></body></html>\n"
            headers = [("Content-Type", "text/html; charset=utf-8")]
            reason = "404 Not Found"
        else:
            body = b"<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n"
            headers = [("Content-Type", "text/html"), ("Retry-After", "3600")]
            reason = "503 Service Unavailable"
        headers = [("Server", "nginx"), *headers, ("Content-Length", str(len(body))), ("Connection", "close")]
        records.append(
            (uri, date, StatusAndHeaders(reason, headers, protocol="HTTP/1.1"), body, record_id("response", uri, date))
        )
    for i, page in enumerate(PAGES):
        date = f"2025-01-{16 + i // 6:02d}T{10 + i % 6:02d}:{(i * 13) % 60:02d}:{(i * 29) % 60:02d}Z"
        body = html_page(page.url, page.meta, seed)
        headers = [
            ("Server", "Apache"),
            ("Content-Type", "text/html; charset=utf-8"),
            *page.headers,
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
        ]
        records.append(
            (
                page.url,
                date,
                StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1"),
                body,
                record_id("response", page.url, date),
            )
        )
    return records


def build_warc(robots_new: dict[str, bytes | None], seed: int, filename: str) -> tuple[bytes, list[int]]:
    """The gzipped WARC bytes and the offset where each record starts (last entry: end of file)."""
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True)
    info = writer.create_warcinfo_record(
        filename,
        {
            "software": "apertus-compliance scripts/make_sample_signals.py",
            "format": "WARC File Format 1.1",
            "description": "Sample robots.txt fetches and pages with page-level opt-out signals (synthetic)",
            "isPartOf": "apertus-compliance sample signals",
        },
    )
    info.rec_headers.replace_header("WARC-Date", "2025-01-14T08:00:00Z")
    info.rec_headers.replace_header("WARC-Record-ID", record_id("warcinfo", filename))
    offsets = [0]
    writer.write_record(info)
    offsets.append(out.tell())
    for uri, date, http_headers, body, rid in warc_records(robots_new, seed):
        record = writer.create_warc_record(
            uri,
            "response",
            payload=io.BytesIO(body),
            length=len(body),
            http_headers=http_headers,
            warc_headers_dict={"WARC-Date": date, "WARC-Record-ID": rid},
        )
        writer.write_record(record)
        offsets.append(out.tell())
    return out.getvalue(), offsets


def write_parquet(path: Path, rows: list[tuple[str, str]]) -> None:
    import pyarrow as pa  # a project dependency; only needed for this one file
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "domain": pa.array([d for d, _ in rows], type=pa.string()),
            "content": pa.array([c for _, c in rows], type=pa.string()),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")


def md_escape(text: str) -> str:
    return text.replace("|", "\\|")


# --------------------------------------------------------------------------------------------


def generate(out: Path, seed: int) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    for name in MANAGED:
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()

    cases = {c.host: c for c in robots_cases(seed)}
    tdm = tdmrep_files()
    page_hosts = {p.url.split("/")[2] for p in PAGES}
    fixed = set(cases) | set(tdm) | page_hosts | set(WARC_ROBOTS) | set(SIGNAL_ONLY_HOSTS)
    fixed |= {t.split("/")[2] for t, *_ in RIGHTSHOLDERS if t.startswith("https://")}
    filler = make_filler_hosts(seed, fixed, TOTAL_HOSTS - len(fixed))
    hosts = sorted(fixed | set(filler))
    write_bytes(out / "hosts.txt", ("\n".join(hosts) + "\n").encode("ascii"))

    robots: dict[str, Robots] = {}
    for host in hosts:
        if host in cases:
            c = cases[host]
            old = fmt(c.old, host) if isinstance(c.old, str) else c.old
            new = fmt(c.new, host) if isinstance(c.new, str) else c.new
            blocks_old = c.blocks if c.blocks_old is None else c.blocks_old
            robots[host] = Robots(old, new, "case", "case", tuple(blocks_old), tuple(c.blocks))
        else:
            robots[host] = filler_robots(seed, host, plain=host in fixed)
    for host in hosts:
        r = robots[host]
        for date, content in ((OLD, r.old), (NEW, r.new)):
            if content is not None:
                write_bytes(out / "robots" / date / f"{host}.txt", content)

    for host in sorted(tdm):
        write_bytes(out / "tdmrep" / f"{host}.json", tdm[host][0].encode("utf-8"))

    robots_new = {h: robots[h].new for h in hosts}
    warc, _ = build_warc(robots_new, seed, "pages.warc.gz")
    write_bytes(out / "warc" / "pages.warc.gz", warc)
    truncated_full, offsets = build_warc(robots_new, seed, "truncated.warc.gz")
    middle = len(offsets) // 2  # cut 80% into this record's gzip member: its body comes out short
    cut = offsets[middle] + (offsets[middle + 1] - offsets[middle]) * 4 // 5
    write_bytes(out / "warc" / "truncated.warc.gz", truncated_full[:cut])

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("target", "requested_at", "requester"))
    for target, date, ref, _ in RIGHTSHOLDERS:
        writer.writerow((target, date, ref))
    write_bytes(out / "rightsholders.csv", buffer.getvalue().encode("utf-8"))

    parquet_rows = parquet_selection(seed, hosts, robots)
    write_parquet(out / "parquet" / "robots-2025-01.parquet", parquet_rows)

    stats = statistics(hosts, robots)
    stats["parquet_rows"] = len(parquet_rows)
    stats["warc_records"] = len(offsets) - 1
    stats["truncated_cut_at"] = cut
    stats["truncated_record"] = middle
    write_bytes(out / "README.md", readme(seed, hosts, robots, cases, tdm, stats).encode("utf-8"))
    return stats


def parquet_selection(seed: int, hosts: list[str], robots: dict[str, Robots]) -> list[tuple[str, str]]:
    """About 20 hosts' 2025-01-15 files that are valid UTF-8 and small: some cases, some filler."""
    chosen = {
        "example-verlag.de",
        "www.example-news.de",
        "www.rheinbote.de",
        "www.copper-kitchen.com",
        "www.sonnenstube.ch",
        "www.kestrel-review.org",
        "www.atelier-lumiere.fr",
        "www.gazzetta-del-borgo.it",
        "www.cave-des-vignes.fr",
        "www.ironbark-press.com.au",
        "www.maple-outfitters.com",
        "www.kiesel-werkstatt.de",
    }
    rng = random.Random(f"{seed}:parquet")
    others = [h for h in hosts if h not in chosen and robots[h].new and robots[h].kind_new != "case"]
    chosen |= set(rng.sample(others, 8))
    rows = []
    for host in sorted(chosen):
        content = robots[host].new
        if content is None or len(content) > 64 * 1024:
            continue
        rows.append((host, content.decode("utf-8")))
    return rows


def statistics(hosts: list[str], robots: dict[str, Robots]) -> dict[str, int]:
    stats: dict[str, int] = {"hosts": len(hosts), "registered_domains": len({registered_domain(h) for h in hosts})}
    for label, attr, blocks_attr in (("old", "old", "blocks_old"), ("new", "new", "blocks_new")):
        present = [h for h in hosts if getattr(robots[h], attr) is not None]
        blocking = [h for h in present if getattr(robots[h], blocks_attr)]
        stats[f"files_{label}"] = len(present)
        stats[f"blocking_{label}"] = len(blocking)
        stats[f"gptbot_{label}"] = sum(1 for h in present if {"GPTBot", "*"} & set(getattr(robots[h], blocks_attr)))
        stats[f"ccbot_{label}"] = sum(1 for h in present if {"CCBot", "*"} & set(getattr(robots[h], blocks_attr)))
    stats["changed"] = sum(1 for h in hosts if robots[h].old != robots[h].new)
    stats["added_block"] = sum(1 for h in hosts if robots[h].blocks_new and not robots[h].blocks_old)
    stats["removed_block"] = sum(1 for h in hosts if robots[h].blocks_old and not robots[h].blocks_new)
    stats["appeared"] = sum(1 for h in hosts if robots[h].old is None and robots[h].new is not None)
    stats["disappeared"] = sum(1 for h in hosts if robots[h].old is not None and robots[h].new is None)
    stats["no_file_either"] = sum(1 for h in hosts if robots[h].old is None and robots[h].new is None)
    return stats


def readme(
    seed: int,
    hosts: list[str],
    robots: dict[str, Robots],
    cases: dict[str, Case],
    tdm: dict[str, tuple[str, str]],
    stats: dict[str, int],
) -> str:
    pct = lambda n, d: f"{100 * n / d:.1f}%"  # noqa: E731
    lines = [
        "# Sample opt-out signals",
        "",
        "Synthetic, deterministic test data for the opt-out checks: robots.txt at two dates, W3C TDMRep",
        "files, a WARC with robots.txt fetches and pages carrying page-level signals, rights-holder",
        "requests and a robots.txt parquet in the form Apertus published (`domain, content`).",
        "All host names are made up; any resemblance to a real site is accidental.",
        "",
        f"Generated by `python scripts/make_sample_signals.py` (seed {seed}). Do not edit by hand: change",
        "the script and regenerate. Two runs give byte-identical files (fixed seed, sorted iteration, fixed",
        "WARC-Date and WARC-Record-ID values, gzip members with mtime 0); the WARC and parquet bytes also",
        "depend on the warcio and pyarrow versions.",
        "",
        "```",
        "python scripts/make_sample_signals.py            # writes data/sample/signals/",
        "python scripts/make_sample_signals.py --out /tmp/signals --seed 5",
        "```",
        "",
        "## Files",
        "",
        "| path | what it is |",
        "| --- | --- |",
        f"| `hosts.txt` | {stats['hosts']} host names on {stats['registered_domains']} registered domains, one per line, sorted; also the hosts of the sample documents' URLs |",
        f"| `robots/{OLD}/<host>.txt` | robots.txt as observed on {OLD} ({stats['files_old']} hosts), raw bytes |",
        f"| `robots/{NEW}/<host>.txt` | robots.txt as observed on {NEW} ({stats['files_new']} hosts), raw bytes; the January 2025 snapshot Apertus used |",
        "| `tdmrep/<host>.json` | W3C TDMRep `/.well-known/tdmrep.json` for 10 hosts (one malformed, one entry without `tdm-reservation`) |",
        f"| `warc/pages.warc.gz` | gzipped WARC: a warcinfo record, {len(WARC_ROBOTS)} `https://<host>/robots.txt` responses (WARC-Date 2025-01-14; 200 bodies equal the {NEW} files, one 404, one 503) and {len(PAGES)} HTML page responses with page-level signals |",
        f"| `warc/truncated.warc.gz` | the same records, cut at byte {stats['truncated_cut_at']}, in the middle of record {stats['truncated_record']} (0 = warcinfo): bad input |",
        "| `rightsholders.csv` | `target,requested_at,requester`: rights-holder requests, registered domains or URL prefixes; one row with an empty `requested_at` (bad input) |",
        f"| `parquet/robots-2025-01.parquet` | {stats['parquet_rows']} hosts' {NEW} robots.txt as `domain, content` (strings), zstd; the form of Apertus's published robots corpus |",
        "",
        "## Proportions",
        "",
        '"Blocking" below means a group for an agent of `apertus-2025-01` (or `*`) disallows `/`; path-only',
        "rules (`/private/`, `/*.pdf$`) are not counted.",
        "",
        "| | " + OLD + " | " + NEW + " |",
        "| --- | --- | --- |",
        f"| hosts with a robots.txt | {stats['files_old']} | {stats['files_new']} |",
        f"| blocking at least one agent | {stats['blocking_old']} ({pct(stats['blocking_old'], stats['files_old'])}) | {stats['blocking_new']} ({pct(stats['blocking_new'], stats['files_new'])}) |",
        f"| GPTBot disallowed (own group or `*`) | {stats['gptbot_old']} | {stats['gptbot_new']} |",
        f"| CCBot disallowed (own group or `*`) | {stats['ccbot_old']} | {stats['ccbot_new']} |",
        "",
        f"Between the dates {stats['changed']} hosts ({pct(stats['changed'], stats['hosts'])}) changed: "
        f"{stats['added_block']} added an AI block, {stats['removed_block']} removed one, "
        f"{stats['appeared']} files appeared, {stats['disappeared']} disappeared, the rest were edits that "
        f"change no verdict. {stats['no_file_either']} hosts have no robots.txt at either date.",
        "",
        "## Hosts that test something",
        "",
        f"Verdicts are for the {NEW} file under `apertus-2025-01` (RFC 9309 read as Google's parser",
        "reads it: longest match wins, Allow wins ties, unknown lines do not end a group) unless stated.",
        "All other hosts are ordinary filler drawn from common CMS templates.",
        "",
        "### robots.txt",
        "",
        "| host | what it tests | expected |",
        "| --- | --- | --- |",
    ]
    for host in sorted(cases):
        c = cases[host]
        lines.append(f"| `{host}` | {md_escape(c.tests)} | {md_escape(c.expect)} |")
    lines += [
        "",
        "### TDMRep (`tdmrep/<host>.json`)",
        "",
        "| host | what it tests |",
        "| --- | --- |",
    ]
    for host in sorted(tdm):
        lines.append(f"| `{host}` | {md_escape(tdm[host][1])} |")
    lines += [
        "",
        "### WARC (`warc/pages.warc.gz`)",
        "",
        "| URL | what it tests | expected |",
        "| --- | --- | --- |",
    ]
    for host in sorted(WARC_ROBOTS):
        status = WARC_ROBOTS[host]
        what = {
            200: f"robots.txt fetch, 200 (body = robots/{NEW}/{host}.txt)",
            404: "robots.txt fetch, 404",
            503: "robots.txt fetch, 503 with Retry-After",
        }[status]
        expect = {
            200: "as the robots.txt table",
            404: "no robots.txt: permissive",
            503: "unreachable: permissive for Apertus (RFC 9309 would assume complete disallow)",
        }[status]
        lines.append(f"| `https://{host}/robots.txt` | {what} | {expect} |")
    for page in PAGES:
        lines.append(f"| `{page.url}` | {md_escape(page.tests)} | {md_escape(page.expect)} |")
    lines += [
        "",
        "### rightsholders.csv",
        "",
        "| target | requested_at | requester | note |",
        "| --- | --- | --- | --- |",
    ]
    for target, date, ref, note in RIGHTSHOLDERS:
        lines.append(f"| `{target}` | {date or '(empty)'} | {ref} | {note} |")
    lines += [
        "",
        "Apertus's robots.txt snapshot is January 2025; requests dated after 2025-01-31 postdate it.",
        "",
        "### parquet/robots-2025-01.parquet",
        "",
        "Hosts: " + ", ".join(f"`{d}`" for d, _ in parquet_selection(seed, hosts, robots)) + ".",
        "Their `content` equals `robots/" + NEW + "/<domain>.txt` decoded as UTF-8 (the BOM stays in the",
        "string). The large, binary and Latin-1 files are left out.",
        "",
        "## Notes for tests",
        "",
        "- robots.txt files are raw bytes: read them with `read_bytes()`, not as text (BOM, Latin-1, binary).",
        "- Match agents by RFC 9309 product token (letters, `_`, `-`): `CCBot/2.0` and `CCBot/1.0` are `CCBot`,",
        "  `AI2Bot` is `AI`. The protego remarks above were checked with protego 0.7.0, given the file decoded",
        "  as UTF-8 with replacement.",
        "- `warc/truncated.warc.gz`: warcio 1.8.1 raises nothing on it; its `ArchiveIterator` yields the cut",
        "  record with a body shorter than the record's `Content-Length`. A reader must compare the bytes it",
        "  got with `Content-Length` (or check that the last gzip member ends) to report the truncation.",
        "- The 503 robots.txt fetch is the one place where Apertus (permissive) and RFC 9309 2.3.1.4",
        "  (complete disallow) disagree; the expected verdicts follow Apertus.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default: %(default)s)")
    args = parser.parse_args(argv)
    stats = generate(args.out, args.seed)
    print(f"wrote {args.out}: " + ", ".join(f"{k}={v}" for k, v in sorted(stats.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
