"""Registry -> snapshot -> lookup: as-of semantics, evidence, strictness, granularity, determinism."""

import json
import shutil
from datetime import date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apertus_compliance.optout.agents import load_agent_list
from apertus_compliance.optout.ingest import ingest_rightsholder_list, ingest_robots_dir, ingest_tdmrep
from apertus_compliance.optout.lookup import INVALID_URL, Snapshot, SnapshotError, diff_snapshots
from apertus_compliance.optout.registry import Registry
from apertus_compliance.optout.robots import parse_robots
from apertus_compliance.optout.snapshot import SnapshotOptions, compile_snapshot


def signal_of(snapshot: Snapshot, url: str) -> str | None:
    found = snapshot.check(url)
    return None if found is None else found.signal


@pytest.mark.parametrize(
    "url, signal",
    [
        ("https://gpt-blocked.example/any/page", "robots"),
        ("http://GPT-Blocked.Example./x?y=1", "robots"),  # host case and trailing dot
        ("http://user:pw@gpt-blocked.example:8080/a", "robots"),  # user and port are not the host
        ("https://[::1]:8443/private/x", None),
        ("https://paths.example?q=/private/x", None),  # the query is not the path
        ("https://paths.example/private/x", "robots"),
        ("https://paths.example/private/open/x", None),
        ("https://paths.example/public", None),
        ("https://free.example/", None),
        ("https://unknown.example/page", None),
        ("https://changes.example/a", "robots"),  # Google-Extended added in January 2025
        ("https://unblocks.example/a", None),  # CCBot block lifted in January 2025
        ("https://apple.example/a", None),  # Applebot is not Applebot-Extended
        ("https://broken.example/a", None),  # unparsable robots.txt is permissive by default
        ("https://aipref.example/article", "aipref"),
        ("https://aipref.example/ai-ok/article", None),
        ("https://blog.coarse.co.uk/drafts/1", "robots"),
        ("https://www.coarse.co.uk/drafts/1", None),  # url granularity: other host unaffected
        ("https://tdm.example/books/1", "tdmrep"),
        ("https://tdm.example/books/free/1", None),
        ("https://sub.verlag.example/a", "rightsholder"),  # a listed domain covers its subdomains
        ("https://news.example/archive/2020/x", "rightsholder"),
        ("https://news.example/today", None),
        ("https://late.example/a", None),  # requested after the as-of date
        ("https://nodate.example/a", None),  # row rejected at ingest, reported there
        ("not a url", "invalid-url"),
        ("", "invalid-url"),
    ],
)
def test_lookup_table(make_snapshot, url, signal):
    assert signal_of(make_snapshot(), url) == signal


def test_evidence_names_signal_agent_line_and_observation(make_snapshot):
    (reason,) = make_snapshot().explain("https://gpt-blocked.example/a")
    assert reason.signal == "robots"
    assert reason.agents == "gptbot"
    assert (reason.rule.line, reason.rule.text) == (2, "Disallow: /")
    assert reason.observed_at.date() == date(2025, 1, 15)
    assert reason.source.endswith("2025-01-15/gpt-blocked.example.txt")
    assert len(reason.evidence_sha256) == 64


def test_batch_lookup_equals_one_by_one(make_snapshot, kit):
    snapshot = make_snapshot()
    urls = [f"https://{host}/{path}" for host in kit.ROBOTS["2025-01-15"] for path in ("", "private/x", "ai-ok/1")]
    urls += ["https://tdm.example/books/1", "nonsense", "https://news.example/archive/x"] * 3
    assert snapshot.lookup(urls) == [snapshot.check(url) for url in urls]
    assert snapshot.lookup(["nonsense"]) == [INVALID_URL]


def test_batch_paths_are_the_reference_paths(make_snapshot):
    """lookup() cuts paths out of whole batches; explain() uses url_path(): they must agree."""
    snapshot = make_snapshot()

    @settings(max_examples=300, deadline=None)
    @given(st.text(alphabet="/?;#%éa", max_size=12), st.sampled_from(["", "private", "private/open", "/private"]))
    def agrees(noise, middle):
        url = f"https://paths.example/{middle}{noise}"
        assert (snapshot.lookup([url])[0] is not None) is bool(snapshot.explain(url)), url

    agrees()


def test_as_of_picks_the_latest_observation_before_the_date(make_snapshot):
    early, late = make_snapshot("2024-12-31"), make_snapshot("2025-01-31")
    assert signal_of(early, "https://unblocks.example/a") == "robots"
    assert signal_of(late, "https://unblocks.example/a") is None
    assert signal_of(early, "https://changes.example/a") is None
    assert signal_of(late, "https://changes.example/a") == "robots"
    assert signal_of(make_snapshot("2024-06-30"), "https://gpt-blocked.example/a") is None  # nothing seen yet


def test_snapshots_differ_exactly_by_the_observations_between_their_dates(registry, make_snapshot):
    early, late = make_snapshot("2024-12-31"), make_snapshot("2025-01-31")
    changes = diff_snapshots(early, late)
    between = registry.con.execute(
        "SELECT kind, host, url, observed_at, evidence_sha256 FROM observations "
        "WHERE observed_at >= '2025-01-01' AND observed_at < '2025-02-01'"
    ).fetchall()
    new = [tuple(o.values()) for o in changes["observations_only_in_new"]]
    assert sorted(new) == sorted((k, h, u, t.isoformat(), e) for k, h, u, t, e in between)
    replaced = {(o["kind"], o["host"], o["url"]) for o in changes["observations_only_in_old"]}
    assert replaced <= {(k, h, u) for k, h, u, _, _ in between}  # only superseded ones go
    assert {(c["host"], c["signal"]) for c in changes["reservations_added"]} == {
        ("changes.example", "robots"),
        ("aipref.example", "aipref"),
        ("blog.coarse.co.uk", "robots"),
        ("tdm.example", "tdmrep"),
    }
    assert [(c["host"], c["signal"]) for c in changes["reservations_removed"]] == [("unblocks.example", "robots")]
    assert diff_snapshots(late, late)["observations_only_in_new"] == []


def test_strict_mode_reserves_unparsable_robots(make_snapshot):
    reason = make_snapshot(strict=True).check("https://broken.example/a")
    assert reason.signal == "robots-unavailable"
    assert "html page" in reason.rule.text


def test_domain_granularity_reserves_the_registered_domain(make_snapshot):
    snapshot = make_snapshot(granularity="domain")
    reason = snapshot.check("https://www.coarse.co.uk/anything")
    assert reason.signal == "robots" and reason.scope == "domain" and reason.host == "coarse.co.uk"
    assert "blog.coarse.co.uk" in reason.rule.text
    assert snapshot.check("https://other.co.uk/") is None  # the public suffix itself is never reserved


def test_another_agent_list_changes_the_answer(tmp_path, make_snapshot):
    only_ccbot = tmp_path / "ccbot.txt"
    only_ccbot.write_text("CCBot/2.0\n")
    snapshot = make_snapshot("2024-12-31", agents=str(only_ccbot))
    assert signal_of(snapshot, "https://unblocks.example/") == "robots"
    assert signal_of(snapshot, "https://gpt-blocked.example/") is None
    assert snapshot.manifest["agent_list"]["tokens"] == ["ccbot"]


def test_snapshot_is_byte_identical_and_independent_of_ingest_order(tmp_path, make_snapshot, kit):
    first = make_snapshot()
    signals = kit.write_signals(tmp_path / "again")
    with Registry(tmp_path / "reordered.duckdb") as registry:
        added = ingest_rightsholder_list(registry, signals / "rightsholders.csv").added
        added += ingest_tdmrep(registry, signals / "tdmrep", datetime(2025, 1, 10)).added
        for day in sorted(kit.ROBOTS, reverse=True):
            added += ingest_robots_dir(registry, signals / "robots" / day).added
        assert added == registry.count()
        assert sum(r.added for r in kit.fill_registry(registry, signals)) == 0  # idempotent
        options = SnapshotOptions(date(2025, 1, 31), load_agent_list())
        manifest = compile_snapshot(registry, options, tmp_path / "second")
    for name in first.manifest["files"]:
        assert (tmp_path / "second" / name).read_bytes() == (first.folder / name).read_bytes(), name
    assert manifest["files"] == first.manifest["files"] and manifest["snapshot_id"] == first.snapshot_id


def test_snapshot_id_covers_content(make_snapshot):
    assert make_snapshot().snapshot_id != make_snapshot(strict=True).snapshot_id


def test_tampered_or_foreign_snapshot_is_refused(tmp_path, make_snapshot):
    snapshot = make_snapshot()
    copy = tmp_path / "copy"
    shutil.copytree(snapshot.folder, copy)
    with (copy / "rules.text.utf8").open("ab") as handle:
        handle.write(b"x")
    with pytest.raises(SnapshotError, match="rules.text.utf8 does not match the size"):
        Snapshot(copy)
    flipped = bytearray((snapshot.folder / "rules.text.utf8").read_bytes())
    flipped[0] ^= 1
    (copy / "rules.text.utf8").write_bytes(bytes(flipped))
    tampered = Snapshot(copy)  # opening checks sizes only: it maps, it does not read
    with pytest.raises(SnapshotError, match="rules.text.utf8 does not match the hash"):
        tampered.verify()
    snapshot.verify()
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(SnapshotError, match="format"):
        Snapshot(copy)
    with pytest.raises(SnapshotError, match="no manifest"):
        Snapshot(tmp_path / "nothing")


def test_counts_per_signal_in_manifest(make_snapshot):
    counts = make_snapshot().manifest["counts"]
    assert counts["reserving_hosts_by_signal"]["robots"] == 4
    assert counts["reserving_hosts_by_signal"]["rightsholder"] == 2
    assert counts["observations"]["robots:unparsable"] == 1


def test_robots_answers_match_direct_evaluation(make_snapshot, kit):
    """For robots-only hosts, the snapshot reserves a URL iff some listed agent may not fetch it."""
    snapshot = make_snapshot()
    files = {h: c for h, c in kit.ROBOTS["2025-01-15"].items() if h not in ("broken.example", "aipref.example")}
    agents = load_agent_list().tokens

    @settings(max_examples=100, deadline=None)
    @given(
        st.lists(
            st.tuples(st.sampled_from(sorted(files)), st.sampled_from(["/", "/private/x", "/drafts/", "/a"])),
            min_size=1,
            max_size=30,
        )
    )
    def agrees(pairs):
        urls = [f"https://{host}{path}" for host, path in pairs]
        for url, (host, _), found in zip(urls, pairs, snapshot.lookup(urls), strict=True):
            robots = parse_robots(files[host])
            assert (found is not None) is any(not robots.allowed(agent, url) for agent in agents), url

    agrees()
