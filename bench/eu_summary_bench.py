"""The EU Public Summary's two costly steps: the top-domain list of 2.3 over a crawl (DuckDB sums
bytes per URL authority, Python folds the authorities into registered domains), and the PDF
render of the bundled Apertus summary (WeasyPrint).

Documents: ``--documents`` rows of 200 bytes over ``--hosts`` hosts (every tenth URL with a
userinfo, four public suffixes, subdomains); the time is ``domains.bytes_by_domain``.

    python bench/eu_summary_bench.py [--documents 1000000] [--hosts 100000]
"""

from __future__ import annotations

import argparse
import platform
import random
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from apertus_compliance.manifests.domains import bytes_by_domain
from apertus_compliance.manifests.eu_summary import summarise, to_html
from apertus_compliance.manifests.inventory import bundled_inventory, load_inventory
from apertus_compliance.manifests.pdf import html_to_pdf


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=1_000_000)
    parser.add_argument("--hosts", type=int, default=100_000)
    args = parser.parse_args()
    generator = random.Random(1)
    suffixes = ("org", "co.uk", "com.au", "de")
    hosts = [f"s{number % 7}.site{number}.{suffixes[number % 4]}" for number in range(args.hosts)]
    urls = [
        f"https://{'user@' if number % 10 == 0 else ''}{hosts[generator.randrange(args.hosts)]}/page/{number}"
        for number in range(args.documents)
    ]
    with tempfile.TemporaryDirectory() as folder:
        shard = Path(folder) / "crawl.parquet"
        pq.write_table(pa.table({"url": urls, "text": ["x" * 200] * args.documents}), shard)
        start = time.perf_counter()
        ranked, unreadable = bytes_by_domain([shard])
        domains_seconds = time.perf_counter() - start
    summary = summarise(load_inventory(bundled_inventory("apertus")))
    html = to_html(summary)
    html_to_pdf(html)  # the first render also loads WeasyPrint and the fonts
    start = time.perf_counter()
    pdf = html_to_pdf(html)
    pdf_seconds = time.perf_counter() - start
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print(
        f"top domains: {args.documents:,} documents, {len(ranked):,} registered domains "
        f"({unreadable} unreadable): {domains_seconds:.2f} s"
    )
    print(f"PDF of the Apertus summary: {len(pdf):,} bytes in {pdf_seconds:.2f} s")


if __name__ == "__main__":
    main()
