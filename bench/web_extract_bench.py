"""HTML main-text extraction: Resiliparse against trafilatura (datatrove's ``Trafilatura`` settings).

Quality on the real-data fixtures (tests/data/web): for each page, the share of its main-text
sentences found in the extract ("kept") and the share of its boilerplate lines that leaked into
it ("boilerplate"); speed: pages per second over the same pages repeated, one core.

    .venv/bin/python bench/web_extract_bench.py [--repeat 50]

trafilatura is only the comparison: when it is not installed (``pip install trafilatura``), the
bench measures Resiliparse alone.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from apertus_compliance.pipeline.web import read_record

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "data" / "web"
# url -> (sentences of the main text, boilerplate lines), read off the pages by hand.
EXPECTED = {
    "https://news.example.com/2024/03/14/cycling-bridge": (
        [
            "The town council voted on Wednesday evening",
            "Councillors approved the plan by eleven votes",
            "This is the first time we have had both the funding",
            "The bridge is expected to cost 6.8 million euros",
            "Residents can see the final drawings at the town library",
        ],
        [
            "We use cookies",
            "Most read",
            "Market hall to reopen",
            "All rights reserved",
            "Privacy policy",
            "Follow us on social media",
            "Advertisement",
        ],
    ),
    "https://zh.example.org/udhr/1-3.html": (
        ["人人生而自由", "人人有资格享有本宣言所载", "并且不得因一人所属的国家", "人人有权享有生命"],
        ["新闻中心", "当前位置", "版权所有", "京ICP备"],
    ),
    "http://fr.example.net/~dupont/ddh.htm": (
        ["Tous les êtres humains naissent libres", "Chacun peut se prévaloir", "Tout individu a droit à la vie"],
        ["Accueil", "Page personnelle"],
    ),
    "https://ja.example.org/udhr.html": (
        ["すべての人間は、生まれながらにして自由", "すべて人は、生命、自由及び身体の安全"],
        ["トップページ", "Copyright"],
    ),
    "https://de.example.com/menschenrechte/artikel-1": (
        ["Alle Menschen sind frei und gleich", "Jeder hat das Recht auf Leben"],
        ["Startseite", "Impressum"],
    ),
    "https://studio.example.com/watercolour/mixing-greens": (
        ["Ready-made greens often look flat", "Start with a warm yellow"],
        ["Shop", "Classes", "All artwork and text"],
    ),
    "https://lists.example.org/pipermail/widgets-dev/2019-March/000123.html": (
        ["I can reproduce it", "for family in (socket.AF_INET6", "If Jakob agrees", "Cheers"],
        ["Messages sorted by", "More information about the Widgets-dev", "Previous message"],
    ),
    "http://www.iana.org/": (
        ["The global coordination of the DNS Root", "Domain Names", "Number Resources", "Protocol Assignments"],
        ["Privacy Policy", "Terms of Service"],
    ),
}


def pages() -> dict[str, str]:
    found = {}
    for path in sorted(FIXTURES.glob("*.warc*")):
        with path.open("rb") as handle:
            for record in ArchiveIterator(handle):
                if record.rec_type == "response":
                    url = record.rec_headers.get_header("WARC-Target-URI")
                    web = read_record(record)
                    if url in EXPECTED and web.html is not None:
                        found[url] = web.html
    return found


def resiliparse(html: str) -> str:
    from apertus_compliance.pipeline.web import extract_main_text

    return extract_main_text(html)


def trafilatura(html: str) -> str:
    from datatrove.pipeline.extractors import Trafilatura

    # FineWeb's settings, but deduplicate=False: trafilatura's dedup cache is process-wide, so
    # with it the extract of one page depends on which pages the same worker read before.
    return Trafilatura(favour_precision=True, deduplicate=False, timeout=0).extract(html) or ""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    html = pages()
    print(f"{len(html)} pages, {sum(len(h.encode()) for h in html.values()):,} bytes of HTML")
    extractors = [("resiliparse", resiliparse), ("trafilatura", trafilatura)]
    if importlib.util.find_spec("trafilatura") is None:
        print("trafilatura is not installed: measuring Resiliparse alone")
        extractors = extractors[:1]
    for name, extract in extractors:
        kept = lost = leaked = boiler = 0
        for url, page in html.items():
            text = extract(page)
            main_text, boilerplate = EXPECTED[url]
            found = sum(sentence in text for sentence in main_text)
            kept, lost = kept + found, lost + len(main_text) - found
            leaked += sum(line in text for line in boilerplate)
            boiler += len(boilerplate)
            missing = [s for s in main_text if s not in text]
            if missing:
                print(f"  {name}: {url}: lost {missing}")
        extract(next(iter(html.values())))  # warm-up (imports)
        start = time.perf_counter()
        for _ in range(args.repeat):
            for page in html.values():
                extract(page)
        seconds = time.perf_counter() - start
        rate = args.repeat * len(html) / seconds
        print(
            f"{name}: main text kept {kept}/{kept + lost}, boilerplate leaked {leaked}/{boiler}, "
            f"{rate:,.0f} pages/s ({seconds * 1000 / (args.repeat * len(html)):.2f} ms/page)"
        )


if __name__ == "__main__":
    main()
