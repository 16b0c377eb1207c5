"""Generated robots.txt files whose rules differ per host the way real files do, for benchmarks.

Most files are unique: 1-3 groups of common agents (``*``, search engines, AI crawlers), each
with 1-4 Allow/Disallow rules on paths of that site. A minority serves a CMS default byte for
byte apart from its Sitemap line (WordPress, Drupal, Joomla, Shopify), so their rule sets are
shared; a few block everything, a few are empty. ``write_registry`` writes the registry's
tables directly (the schema ``Registry`` creates, the rows ``ingest_robots_dir`` would add),
because ingesting ten million files through the ingest code would dominate the benchmark; the
snapshot is still compiled by the real compile.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

AGENTS = [
    "*",
    "Googlebot",
    "Bingbot",
    "GPTBot",
    "CCBot",
    "ClaudeBot",
    "Google-Extended",
    "anthropic-ai",
    "Applebot",
    "Applebot-Extended",
    "Baiduspider",
    "YandexBot",
    "AhrefsBot",
    "SemrushBot",
    "Bytespider",
    "PerplexityBot",
]
AGENT_WEIGHTS = [40, 8, 5, 8, 5, 4, 4, 2, 2, 2, 2, 2, 3, 3, 3, 2]
WORDS = "admin wp-admin cart checkout search login account private tmp cgi-bin api static news blog shop tag page user".split()
EXTENSIONS = ["pdf", "php", "json", "xml", "doc"]
CMS_DEFAULTS = [
    "User-agent: *\nDisallow: /wp-admin/\nAllow: /wp-admin/admin-ajax.php\n",
    "User-agent: *\nCrawl-delay: 10\nAllow: /core/*.css$\nAllow: /core/*.js$\nDisallow: /core/\nDisallow: /profiles/\n"
    "Disallow: /README.txt\nDisallow: /admin/\nDisallow: /comment/reply/\nDisallow: /search/\nDisallow: /user/login\n",
    "User-agent: *\nDisallow: /administrator/\nDisallow: /bin/\nDisallow: /cache/\nDisallow: /cli/\n"
    "Disallow: /components/\nDisallow: /includes/\nDisallow: /installation/\nDisallow: /language/\n",
    "User-agent: *\nDisallow: /admin\nDisallow: /cart\nDisallow: /orders\nDisallow: /checkouts/\n"
    "Disallow: /*?*oseid=*\nDisallow: /search\n\nUser-agent: Nutch\nDisallow: /\n",
]
URL_PATHS = ["/", "/index.html", "/news/2024/story-{n}.html", "/blog/post?id={n}", "/shop/item-{n}", "/doc-{n}.pdf"]


def host_name(number: int) -> str:
    return f"www.site{number}.example" if number % 3 else f"site{number}.example"


def robots_txt(rng: random.Random, host: str) -> str:
    """One robots.txt: 12% a CMS default, 3% block everything, 3% empty, the rest unique groups."""
    draw = rng.random()
    if draw < 0.12:
        return rng.choice(CMS_DEFAULTS) + f"Sitemap: https://{host}/sitemap.xml\n"
    if draw < 0.15:
        return "User-agent: *\nDisallow: /\n"
    if draw < 0.18:
        return ""
    site = rng.randrange(10_000)
    lines = []
    for agents in _agent_groups(rng):
        lines += [f"User-agent: {agent}" for agent in agents]
        for _ in range(rng.randint(1, 4)):
            lines.append(f"{'Allow' if rng.random() < 0.2 else 'Disallow'}: {_path(rng, site)}")
        lines.append("")
    if rng.random() < 0.3:
        lines.append(f"Sitemap: https://{host}/sitemap.xml")
    return "\n".join(lines) + "\n"


def _agent_groups(rng: random.Random) -> list[list[str]]:
    count = rng.choices((1, 2, 3), (50, 35, 15))[0]
    groups, used = [], set()
    for _ in range(count):
        agents = [a for a in rng.choices(AGENTS, AGENT_WEIGHTS, k=rng.choices((1, 2), (80, 20))[0]) if a not in used]
        if agents:
            used.update(agents)
            groups.append(agents)
    return groups


def _path(rng: random.Random, site: int) -> str:
    shape = rng.random()
    word = rng.choice(WORDS)
    if shape < 0.05:
        return "/"
    if shape < 0.55:
        return f"/{word}{site % 97}/"
    if shape < 0.75:
        return f"/{word}/{rng.choice(WORDS)}-{site % 13}"
    if shape < 0.9:
        return f"/*.{rng.choice(EXTENSIONS)}$"
    return f"/{word}/*?sort={site % 7}"


def url_for(rng: random.Random, host: str) -> str:
    return f"https://{host}{rng.choice(URL_PATHS).format(n=rng.randrange(1000))}"


def robots_files(hosts: int, seed: int = 7) -> Iterator[tuple[str, bytes]]:
    """(host, robots.txt bytes), the same for the same seed."""
    rng = random.Random(seed)
    for number in range(hosts):
        host = host_name(number)
        yield host, robots_txt(rng, host).encode()


def write_registry(path: Path, hosts: int, observed_at: datetime, seed: int = 7, batch: int = 500_000) -> int:
    """A registry of ``hosts`` robots.txt observations, written straight into its tables."""
    import pyarrow as pa

    from apertus_compliance.optout.registry import Registry

    with Registry(path) as registry:
        rows: list[tuple[str, bytes]] = []

        def flush() -> None:
            digests = [hashlib.sha256(content).hexdigest() for _, content in rows]
            contents = {d: c for d, (_, c) in zip(digests, rows, strict=True)}
            evidence = pa.table(
                {
                    "sha256": list(contents),
                    "size": [len(c) for c in contents.values()],
                    "content": list(contents.values()),
                }
            )
            observations = pa.table(
                {
                    "kind": ["robots"] * len(rows),
                    "host": [host for host, _ in rows],
                    "url": [""] * len(rows),
                    "observed_at": pa.array([observed_at] * len(rows), pa.timestamp("us")),
                    "status": ["ok"] * len(rows),
                    "evidence_sha256": digests,
                    "source": [f"{observed_at:%Y-%m-%d}/{host}.txt" for host, _ in rows],
                    "detail": [""] * len(rows),
                }
            )
            registry.con.register("incoming_evidence", evidence)
            registry.con.register("incoming_observations", observations)
            registry.con.execute("INSERT OR IGNORE INTO evidence SELECT * FROM incoming_evidence")
            registry.con.execute("INSERT INTO observations SELECT * FROM incoming_observations")
            registry.con.unregister("incoming_evidence")
            registry.con.unregister("incoming_observations")
            rows.clear()

        for item in robots_files(hosts, seed):
            rows.append(item)
            if len(rows) >= batch:
                flush()
        if rows:
            flush()
        return registry.count()
