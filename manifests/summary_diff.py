"""What changed in the training data between two sets of runs (``apertus-compliance manifest
diff``): kept documents and tokens per source, removals per reason (opt-out signals apart),
languages, datasets and their pinned revisions, and the registered domains whose kept content
fell to zero (``disappeared``, e.g. after new opt-outs) or appeared. Built on :mod:`.facts`.
"""

from __future__ import annotations

from collections import defaultdict

from apertus_compliance.manifests.domains import bytes_by_domain
from apertus_compliance.manifests.facts import PROTOCOLS, TrainingFacts, training_facts
from apertus_compliance.manifests.run import Run

__all__ = ["diff_markdown", "diff_summaries", "diff_to_markdown"]


def _change(old: int, new: int) -> dict:
    return {"old": old, "new": new, "change": new - old}


def _domains(runs: list[Run]) -> dict[str, tuple[int, int]]:
    """Kept bytes and documents per registered domain over every run."""
    ranked, _ = bytes_by_domain([run.dir / shard.path for run in runs for shard in run.lock.outputs])
    return {domain: (size, count) for domain, size, count in ranked}


def _side(facts: TrainingFacts) -> dict:
    sources: dict[str, dict] = {}
    datasets: dict[str, set] = defaultdict(set)
    for source in facts.sources:
        row = sources.setdefault(source.id, {"documents": 0, "tokens": 0, "removed": defaultdict(lambda: [0, 0])})
        row["documents"] += source.documents_kept
        row["tokens"] += source.tokens_kept
        for reason, count in source.documents_removed.items():
            row["removed"][reason][0] += int(count)
            row["removed"][reason][1] += int(source.tokens_removed.get(reason, 0))
        datasets[source.dataset or source.homepage or source.id].add(source.revision)
    optout = [
        {
            "run": run.label,
            "snapshot_id": run.snapshot.snapshot_id if run.snapshot else None,
            "as_of": run.snapshot.as_of if run.snapshot else None,
        }
        for run in facts.runs
    ]
    return {
        "sources": sources,
        "datasets": datasets,
        "languages": {item.name: item.tokens for item in facts.languages()},
        "programming": {item.name: item.tokens for item in facts.programming_languages()},
        "optout": optout,
        "runs": [run.label for run in facts.runs],
    }


def diff_summaries(old_runs: list[Run], new_runs: list[Run]) -> dict:
    """What changed from ``old_runs`` to ``new_runs``: kept documents and tokens per source, removals
    per reason (opt-out signals apart), languages, datasets, and the domains whose kept content fell to
    zero (``disappeared``, e.g. after new opt-outs) or appeared. Sources are matched by id, summed
    across runs."""
    old, new = _side(training_facts(old_runs)), _side(training_facts(new_runs))
    sources, by_reason = {}, defaultdict(lambda: {"documents": [0, 0], "tokens": [0, 0]})
    empty = {"documents": 0, "tokens": 0, "removed": {}}
    for source_id in sorted(set(old["sources"]) | set(new["sources"])):
        before, after = old["sources"].get(source_id, empty), new["sources"].get(source_id, empty)
        removed = {}
        for reason in sorted(set(before["removed"]) | set(after["removed"])):
            was, now = before["removed"].get(reason, [0, 0]), after["removed"].get(reason, [0, 0])
            removed[reason] = {"documents": _change(was[0], now[0]), "tokens": _change(was[1], now[1])}
            by_reason[reason]["documents"][0] += was[0]
            by_reason[reason]["documents"][1] += now[0]
            by_reason[reason]["tokens"][0] += was[1]
            by_reason[reason]["tokens"][1] += now[1]
        sources[source_id] = {
            "status": "added"
            if source_id not in old["sources"]
            else "removed"
            if source_id not in new["sources"]
            else "kept",
            "documents_kept": _change(before["documents"], after["documents"]),
            "tokens_kept": _change(before["tokens"], after["tokens"]),
            "removed": removed,
        }
    removed_by_reason = {
        reason: {"documents": _change(*values["documents"]), "tokens": _change(*values["tokens"])}
        for reason, values in sorted(by_reason.items())
    }

    def language_changes(key: str) -> dict:
        names = sorted(set(old[key]) | set(new[key]))
        return {name: _change(old[key].get(name, 0), new[key].get(name, 0)) for name in names}

    old_datasets, new_datasets = old["datasets"], new["datasets"]
    old_domains, new_domains = _domains(old_runs), _domains(new_runs)
    disappeared = [
        {"domain": host, "old_bytes": size, "old_documents": count}
        for host, (size, count) in sorted(old_domains.items(), key=lambda item: (-item[1][0], item[0]))
        if host not in new_domains
    ]
    appeared = [
        {"domain": host, "new_bytes": size, "new_documents": count}
        for host, (size, count) in sorted(new_domains.items(), key=lambda item: (-item[1][0], item[0]))
        if host not in old_domains
    ]
    old_tokens = sum(row["tokens"] for row in old["sources"].values())
    new_tokens = sum(row["tokens"] for row in new["sources"].values())
    return {
        "old": {"runs": old["runs"], "optout": old["optout"]},
        "new": {"runs": new["runs"], "optout": new["optout"]},
        "totals": {
            "tokens_kept": _change(old_tokens, new_tokens),
            "documents_kept": _change(
                sum(row["documents"] for row in old["sources"].values()),
                sum(row["documents"] for row in new["sources"].values()),
            ),
        },
        "sources": sources,
        "removed_by_reason": removed_by_reason,
        "removed_by_signal": {reason: values for reason, values in removed_by_reason.items() if reason in PROTOCOLS},
        "languages": {
            "natural": language_changes("languages"),
            "programming": language_changes("programming"),
            "added": sorted(set(new["languages"]) - set(old["languages"])),
            "removed": sorted(set(old["languages"]) - set(new["languages"])),
        },
        "datasets": {
            "added": sorted(set(new_datasets) - set(old_datasets)),
            "removed": sorted(set(old_datasets) - set(new_datasets)),
            "revision_changed": [
                {
                    "dataset": name,
                    "old": sorted(map(str, old_datasets[name])),
                    "new": sorted(map(str, new_datasets[name])),
                }
                for name in sorted(set(old_datasets) & set(new_datasets))
                if old_datasets[name] != new_datasets[name]
            ],
        },
        "domains": {
            "old_count": len(old_domains),
            "new_count": len(new_domains),
            "disappeared": disappeared,
            "appeared": appeared,
        },
    }


def diff_to_markdown(diff: dict, domain_limit: int = 50) -> str:
    """A ``diff_summaries`` result as Markdown (``templates/summary_diff.md.j2``): changes only."""
    from apertus_compliance.manifests.eu_summary import markdown_environment

    text = markdown_environment().get_template("summary_diff.md.j2").render(d=diff, limit=domain_limit)
    return text.rstrip() + "\n"


def diff_markdown(old_runs: list[Run], new_runs: list[Run], domain_limit: int = 50) -> str:
    """``diff_summaries`` rendered as Markdown."""
    return diff_to_markdown(diff_summaries(old_runs, new_runs), domain_limit)
