"""The bundled sample signals (data/sample/signals, see its README): ingest outcomes and answers."""

from datetime import date

import pytest

from apertus_compliance.optout.agents import load_agent_list
from apertus_compliance.optout.ingest import ingest_bundled_sample
from apertus_compliance.optout.lookup import Snapshot
from apertus_compliance.optout.registry import Registry
from apertus_compliance.optout.snapshot import SnapshotOptions, compile_snapshot


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sample")
    with Registry(folder / "registry.duckdb") as registry:
        report = ingest_bundled_sample(registry)
        again = ingest_bundled_sample(registry)
        snapshots = {}
        for as_of, agents, granularity in [
            ("2025-01-31", "apertus-2025-01", "url"),
            ("2024-12-31", "apertus-2025-01", "url"),
            ("2025-01-31", "apertus-2025-01", "domain"),
            ("2025-01-31", "ai-robots-txt-training", "url"),
        ]:
            options = SnapshotOptions(date.fromisoformat(as_of), load_agent_list(agents), granularity)
            out = folder / f"{as_of}-{agents}-{granularity}"
            compile_snapshot(registry, options, out)
            snapshots[(as_of, agents, granularity)] = Snapshot(out)
    return report, again, snapshots


def test_ingest_counts_every_input_and_names_every_problem(sample):
    report, again, _ = sample
    assert again.added == 0  # idempotent
    assert report.outcomes["robots:unparsable"] == 4  # HTML in both folders and the WARC, binary once
    assert report.outcomes["robots:unreachable"] == 1  # the 503 in the WARC
    assert report.outcomes["robots:absent"] == 1  # the 404 in the WARC
    assert report.outcomes["tdmrep:unparsable"] == 2
    assert report.outcomes["rightsholder:rejected"] == 1
    assert any("rightsholders.csv:12" in e and "requested_at" in e for e in report.errors)
    assert any("www.voyages-soleil.fr.json:3" in e and "invalid JSON" in e for e in report.errors)
    assert any("www.northwind-analytics.net.txt" in e and "binary" in e for e in report.errors)


def reason(snapshot: Snapshot, url: str) -> str | None:
    found = snapshot.check(url)
    return None if found is None else found.signal


JANUARY_2025 = ("2025-01-31", "apertus-2025-01", "url")


@pytest.mark.parametrize(
    "url, signal",
    [
        ("https://www.example-news.de/2013/05/stadtrat.html", "robots"),  # retroactive: a 2013 page
        ("https://blog.example-news.de/2025/01/wintergarten.html", None),
        ("https://example-verlag.de/buch", "rightsholder"),
        ("https://www.rheinbote.de/a", "robots"),  # User-agent: CCBot/2.0
        ("https://www.copper-kitchen.com/about", None),  # Applebot group only
        ("https://www.bottega-alpina.ch/a", "robots"),  # Applebot-Extended
        ("https://www.sonnenstube.ch/a", "robots"),  # Sitemap between user-agent lines
        ("https://www.kestrel-review.org/a", "robots"),  # Crawl-delay between user-agent lines
        ("https://www.atelier-lumiere.fr/a", "robots"),  # byte-order mark
        ("https://www.librairie-du-marais.fr/a", "robots"),  # Latin-1 file
        ("https://www.tannenhof-versand.de/a", None),  # GPTBot rule after the first 500 KiB
        ("https://www.granite-labs.io/a", None),  # HTML served as robots.txt: permissive
        ("https://www.northwind-analytics.net/a", None),  # binary robots.txt: permissive
        ("https://www.pioneer-forum.org/a", None),  # 503: permissive by default
        ("https://www.ironbark-press.com.au/public/x", None),
        ("https://www.ironbark-press.com.au/x", "robots"),
        ("https://www.maple-outfitters.com/guide.pdf", "robots"),
        ("https://www.maple-outfitters.com/guide.html", None),
        ("https://www.gazzetta-del-borgo.it/cronaca/1", "aipref"),
        ("https://www.gazzetta-del-borgo.it/ai-ok/1", None),
        ("https://www.cave-des-vignes.fr/x", "content-signal"),
        ("https://www.summit-tribune.com/opinion/ridge-line.html", None),  # block lifted; PerplexityBot-only noai
        ("https://www.stadtanzeiger-nord.de/lokales/2025/01/neujahrsempfang.html", "noai"),
        ("https://www.stadtanzeiger-nord.de/lokales/other.html", None),  # page signals are per URL
        ("https://www.editions-du-port.fr/catalogue/le-phare-de-brume.html", "tdmrep"),
        ("https://www.cuisine-bretonne.fr/recettes/galettes-complete.html", "tdmrep"),
        ("https://www.journal-du-lac.fr/x", "robots"),
        ("https://www.maison-provence.fr/doc.pdf", "tdmrep"),
        ("https://www.maison-provence.fr/doc.html", None),
        ("https://www.revue-normande.fr/articles/x", "tdmrep"),
        ("https://www.revue-normande.fr/articles/libre/x", None),
        ("https://www.viaggi-toscana.it/itinerari/val-d-orcia.html", "aipref"),
        ("https://www.harbourside-gazette.co.uk/features/tide-tables.html", "rightsholder"),
        ("https://www.cucina-nonna.it/ricette/tiramisu", "rightsholder"),  # requested on the as-of day
        ("https://www.echo-cevenol.fr/articles/x", "tdmrep"),  # the later rights-holder request does not count
    ],
)
def test_answers_as_of_january_2025(sample, url, signal):
    assert reason(sample[2][JANUARY_2025], url) == signal


def test_header_overrides_tdmrep_file(sample):
    snapshot = sample[2][JANUARY_2025]
    page = "https://www.journal-savoyard.fr/articles/2025/01/ouverture-des-pistes.html"
    assert "tdmrep" not in [r.signal for r in snapshot.explain(page)]
    assert "tdmrep" in [r.signal for r in snapshot.explain("https://www.journal-savoyard.fr/other")]


def test_earlier_as_of_date_sees_earlier_files(sample):
    early = sample[2][("2024-12-31", "apertus-2025-01", "url")]
    assert reason(early, "https://www.example-news.de/a") is None  # block added in January 2025
    assert reason(early, "https://www.summit-tribune.com/a") == "robots"  # lifted in January 2025


def test_domain_granularity_widens_to_registered_domain(sample):
    coarse = sample[2][("2025-01-31", "apertus-2025-01", "domain")]
    found = coarse.check("https://blog.example-news.de/2025/01/wintergarten.html")
    assert found.scope == "domain" and found.host == "example-news.de"


def test_other_agent_list(sample):
    ai_robots = sample[2][("2025-01-31", "ai-robots-txt-training", "url")]
    assert reason(ai_robots, "https://www.viaggi-toscana.it/other") == "robots"  # PerplexityBot, Timpibot
    assert reason(sample[2][JANUARY_2025], "https://www.viaggi-toscana.it/other") is None
