"""The facts layer: one vocabulary (protocols, removal reasons, languages) and figures that equal
the lock and the shards."""

import pytest

from apertus_compliance.manifests.facts import (
    PROTOCOLS,
    REMOVAL_KINDS,
    removal_kind,
    run_facts,
    snapshot_facts,
    training_facts,
)
from apertus_compliance.manifests.languages import natural_languages_of
from apertus_compliance.manifests.run import Run, RunError
from apertus_compliance.optout import SIGNALS


@pytest.fixture(scope="session")
def facts(sample_run):
    return run_facts(sample_run)


def test_every_opt_out_signal_has_one_protocol_wording():
    assert tuple(PROTOCOLS) == SIGNALS
    assert all(protocol.name and protocol.rule for protocol in PROTOCOLS.values())
    assert "RFC 9309" in PROTOCOLS["robots"].name and "TDMRep" in PROTOCOLS["tdmrep"].name


@pytest.mark.parametrize(
    ("reason", "filters", "kind"),
    [
        ("robots", [], "optout"),
        ("tdmrep", [], "optout"),
        ("robots-unavailable", [], "optout"),
        ("invalid-url", [], "unverifiable-url"),  # no reservation could be checked: not an opt-out
        ("invalid", [], "invalid"),
        ("budget", [], "budget"),
        ("too-short", ["too-short"], "filter"),
        ("too-short", [], "other"),
        ("content-type", [], "other"),  # a reason of a newer rebuild is kept under its own name
    ],
)
def test_removal_kinds(reason, filters, kind):
    assert removal_kind(reason, filters) == kind
    assert kind in REMOVAL_KINDS


@pytest.mark.parametrize(
    ("label", "languages"),
    [
        ("deu_Latn", [("deu", "German")]),
        ("de", [("deu", "German")]),
        ("EN", [("eng", "English")]),
        ("arb_Arab", [("ara", "Arabic")]),
        ("cmn_Hani", [("zho", "Chinese")]),
        ("gsw_Latn", [("gsw", "Swiss German")]),
        ("en-de", [("eng", "English"), ("deu", "German")]),
        ("xyz_Abcd", [("xyz_Abcd", "xyz_Abcd (as labelled by the source)")]),
    ],
)
def test_language_labels(label, languages):
    assert natural_languages_of(label) == languages


def test_source_figures_equal_the_lock_and_the_shards(facts, sample_run):
    assert [source.id for source in facts.sources] == list(sample_run.sources)
    for source in facts.sources:
        entry = sample_run.sources[source.id]
        assert (source.documents_read, source.documents_kept, source.tokens_kept) == (
            entry.documents.read,
            entry.documents.kept,
            entry.tokens.kept,
        )
        assert source.documents_removed == entry.documents.removed
        assert sum(source.language_labels.values()) == source.tokens_kept
        assert source.bytes_read == sum(item.size for item in entry.inputs)
        ((size, first, last),) = sample_run.query(
            "SELECT sum(strlen(text)), min(left(date, 10)), max(left(date, 10)) FROM mixture", source_id=source.id
        )
        assert source.bytes_kept == size and (source.first_date, source.last_date) == (first, last)
    assert facts.documents_kept == sum(entry.documents.kept for entry in sample_run.sources.values())
    assert (facts.first_date, facts.last_date) == ("2013-05-13", "2024-08-24")


def test_languages_add_up_and_parallel_documents_count_for_both_sides(facts, sample_run):
    natural = {language.code: language.tokens for language in facts.languages()}
    code = sum(language.tokens for language in facts.programming_languages())
    assert sum(natural.values()) + code + facts.unlabelled_tokens == facts.tokens_kept
    ((pair_tokens,),) = sample_run.query("SELECT sum(tokens) FROM mixture WHERE language = 'en-de'")
    assert pair_tokens > 0 and natural["deu"] >= pair_tokens // 2
    assert {language.tag for language in facts.languages()} >= {"en", "de", "fr", "it", "rm"}
    assert round(sum(language.share_percent for language in facts.languages())) == 100
    assert [language.name for language in facts.programming_languages()][:2] == ["Python", "JavaScript"]


def test_removals_by_kind_and_opt_outs(facts, sample_run):
    dclm = next(source for source in facts.sources if source.id == "dclm-edu")
    kinds = dclm.removed_by_kind()
    assert kinds["filter"] == {"too-short": 20} and kinds["invalid"] == {"invalid": 2}
    assert set(kinds["optout"]) <= set(SIGNALS)
    expected = {
        signal: sum(entry.documents.removed.get(signal, 0) for entry in sample_run.sources.values())
        for signal in SIGNALS
    }
    assert facts.optout_removed() == {signal: count for signal, count in expected.items() if count}


def test_snapshot_from_the_run_and_without_its_manifest(facts, sample_run, tmp_path):
    snapshot = facts.snapshot
    assert snapshot.as_of == "2025-01-31" and snapshot.agent_list_version == "2025-01"
    assert "gptbot" in snapshot.agent_tokens and snapshot.reserving_hosts["robots"] > 0
    moved = Run(tmp_path, sample_run.lock)  # no optout/snapshot folder here: the agent list by name
    fallback = snapshot_facts(moved)
    assert fallback.reserving_hosts is None and fallback.agent_tokens == snapshot.agent_tokens


def test_several_runs_are_told_apart_and_one_run_given_twice_is_refused(sample_run):
    with pytest.raises(RunError, match="given twice"):
        training_facts([sample_run, sample_run])
    with pytest.raises(RunError, match="no runs"):
        training_facts([])
