"""The top-domain rule of section 2.3 as the notice states it: registered domains (public-suffix
aware), ranked by the size of content scraped (kept and removed documents), the top 10% (SMEs: 5%
or 1,000, whichever is lower), with a URL parser that reads hosts as browsers do."""

import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from apertus_compliance.manifests.domains import (
    bytes_by_domain,
    domain_of_host,
    rank_domains,
    top_domain_count,
    url_host,
)
from apertus_compliance.manifests.eu_summary import summarise
from apertus_compliance.manifests.inventory import bundled_inventory, validate_inventory
from apertus_compliance.manifests.run import Run


@pytest.mark.parametrize(
    "url, host",
    [
        ("https://www.Example.org/page", "www.example.org"),
        ("https://user:secret@news.example.org:8443/a?b#c", "news.example.org"),
        ("https://user@host.example.org", "host.example.org"),
        ("http://a@b@evil.example/", "evil.example"),  # the last @ ends the userinfo
        ("http://[2001:DB8::1]:8080/x", "2001:db8::1"),
        ("http://[2001:db8::1%25eth0]/", "2001:db8::1"),
        ("http://[2001:db8::1/", None),  # unclosed bracket
        ("https://example.org./", "example.org"),  # trailing dot
        ("https://bücher.example/", "xn--bcher-kva.example"),  # IDNA
        ("https://xn--bcher-kva.example/", "xn--bcher-kva.example"),
        ("HTTPS://EXAMPLE.ORG", "example.org"),
        ("//cdn.example.org/lib.js", "cdn.example.org"),  # scheme-relative
        ("http://192.0.2.7:80/", "192.0.2.7"),
        ("http://example.org\\path", "example.org"),  # a backslash ends the host, as in browsers
        ("mailto:someone@example.org", None),
        ("not a url", None),
        ("https:///path-only", None),
        ("", None),
        (None, None),
    ],
)
def test_url_host(url, host):
    assert url_host(url) == host


@pytest.mark.parametrize(
    "host, domain",
    [
        ("blog.example.co.uk", "example.co.uk"),
        ("a.b.c.example.org", "example.org"),
        ("example.org", "example.org"),
        ("user.github.io", "github.io"),  # the ICANN suffixes, as the opt-out registry reads domains
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),  # no public suffix: stays itself
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8::1", "2001:db8::1"),
        ("localhost", "localhost"),
    ],
)
def test_domain_of_host(host, domain):
    assert domain_of_host(host) == domain


@pytest.mark.parametrize(
    "domains, sme, count",
    [
        (0, False, 0),
        (1, False, 1),
        (19, False, 2),  # 10%, rounded up
        (100, False, 10),
        (100, True, 5),
        (19, True, 1),
        (20_000, True, 1000),  # 5% would be 1,000
        (50_000, True, 1000),  # 5% is 2,500: the lower, 1,000, applies
        (50_000, False, 5000),  # no limit for other providers
    ],
)
def test_top_domain_count(domains, sme, count):
    assert top_domain_count(domains, sme) == count


def test_subdomains_count_for_their_registered_domain():
    rows = [(f"shop{n}.bigsite.co.uk", 10, 1) for n in range(30)] + [
        ("www.single.org", 200, 2),
        ("single.org", 50, 1),
        ("[broken", 0, 0),
        (None, 999, 9),
    ]
    ranked = rank_domains([(host, size, count) for host, size, count in rows if host != "[broken"])
    assert ranked == [("bigsite.co.uk", 300, 30), ("single.org", 250, 3)]
    # host by host, single.org's www would rank first and bigsite would be 30 small entries
    assert max(rows[:-2], key=lambda row: row[1])[0] == "www.single.org"


def _shard(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=pa.schema([("url", pa.string()), ("text", pa.string())])), path)
    return path


def test_size_scraped_counts_removed_documents_and_bytes(tmp_path):
    kept = _shard(
        tmp_path / "kept.parquet",
        [
            {"url": "https://www.kept.org/a", "text": "x" * 100},
            {"url": "https://a.news.example.com/1", "text": "é" * 10},  # 20 bytes
            {"url": "https://user@b.news.example.com:8080/2", "text": "y" * 20},
            {"url": "http://[2001:db8::1]/ipv6", "text": "z" * 5},
            {"url": "https:///no-host", "text": "lost"},
            {"url": None, "text": "no url"},
        ],
    )
    removed = _shard(
        tmp_path / "removed.parquet",
        [{"url": f"https://s{n}.optedout.net/p", "text": "r" * 30} for n in range(5)],
    )
    ranked, unreadable = bytes_by_domain([kept, removed])
    assert ranked == [
        ("optedout.net", 150, 5),  # removed for an opt-out, but scraped: it counts
        ("kept.org", 100, 1),
        ("example.com", 40, 2),
        ("2001:db8::1", 5, 1),
    ]
    assert unreadable == 1
    assert bytes_by_domain([]) == ([], 0)


@pytest.fixture(scope="module")
def crawled_run(sample_dir, tmp_path_factory):
    """The sample run with one source, fineweb2-hq, whose pages the provider crawled itself."""
    copy = tmp_path_factory.mktemp("crawled") / "run"
    shutil.copytree(sample_dir, copy)
    lock_path = copy / "rebuild.lock.json"
    lock = json.loads(lock_path.read_text())
    lock["sources"]["fineweb2-hq"]["crawled_by_provider"] = True
    lock_path.write_text(json.dumps(lock, indent=2, sort_keys=True))
    return Run.open(copy)


def _inventory(run_dir, sme: bool):
    data = yaml.safe_load(bundled_inventory("apertus").read_text())
    data["provider"]["sme"] = sme
    data["provider"]["crawling"] = {
        "crawlers": ["ExampleBot/1.0"],
        "purposes": "Collect web text to train the models.",
        "behaviour": "Reads robots.txt per RFC 9309 and honours TDMRep.",
        "period": {"start": "2024-01", "end": "2024-12"},
        "content": "Public web pages in many languages.",
    }
    data["stages"][0]["sources"].append({"run": str(run_dir)})
    return validate_inventory(data, "crawler.yaml")


@pytest.mark.parametrize("sme, share", [(False, 0.10), (True, 0.05)])
def test_the_summary_lists_the_top_registered_domains_by_size_scraped(crawled_run, sme, share):
    summary = summarise(_inventory(crawled_run.dir, sme), {crawled_run.dir: crawled_run})
    crawl = summary.crawled_data
    assert crawl.used == "Yes" and crawl.crawlers == ["ExampleBot/1.0"]
    assert (crawl.period_start, crawl.period_end) == ("01/2024", "12/2024")
    assert crawl.sources == ["apertus-sample/fineweb2-hq"]
    shards = [
        crawled_run.dir / shard.path
        for shard in [*crawled_run.lock.outputs, *crawled_run.lock.removed]
        if shard.source_id == "fineweb2-hq"
    ]
    expected, _ = bytes_by_domain(shards)
    domains = crawl.domains
    assert domains.total_domains == len(expected) > 10
    assert [(row.domain, row.bytes, row.documents) for row in domains.computed] == expected[
        : top_domain_count(len(expected), sme)
    ]
    assert len(domains.computed) == max(1, -(-len(expected) * int(share * 100) // 100))
    kept_only, _ = bytes_by_domain(
        [crawled_run.dir / shard.path for shard in crawled_run.lock.outputs if shard.source_id == "fineweb2-hq"]
    )
    assert sum(row[2] for row in expected) > sum(row[2] for row in kept_only)  # removed documents were scraped
    assert all("." in row.domain or ":" in row.domain for row in domains.computed)
    assert "fineweb2-hq" not in " ".join(entry.name for entry in summary.public_datasets.large)
