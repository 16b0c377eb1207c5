"""``apertus-compliance optout``: ingest, snapshot, check. A thin shell over the library.

DuckDB and pyarrow load inside the commands, not with this module: ``--help`` stays fast.
"""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from apertus_compliance.optout.settings import DEFAULT_AGENT_LIST, GRANULARITIES, bundled_agent_lists
from apertus_compliance.progress import Progress

if TYPE_CHECKING:
    from apertus_compliance.optout.ingest import IngestReport
    from apertus_compliance.optout.lookup import Snapshot
    from apertus_compliance.optout.registry import Registry
    from apertus_compliance.optout.snapshot import SnapshotOptions

KINDS = ("auto", "robots-dir", "robots-parquet", "warc", "tdmrep", "list")
RESERVED_EXIT_CODE = 3
_DATE = click.DateTime(formats=["%Y-%m-%d"])


@click.group()
def optout() -> None:
    """Machine-readable reservations: registry, as-of snapshots, lookups with evidence."""


@optout.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--registry",
    "registry_path",
    required=True,
    type=click.Path(path_type=Path),
    help="DuckDB registry file (created if missing).",
)
@click.option(
    "--kind",
    type=click.Choice(KINDS),
    default="auto",
    show_default=True,
    help="Form of the inputs; auto tells by file name.",
)
@click.option("--observed-at", type=_DATE, help="When the inputs were fetched (default: a date-named folder).")
@click.option("--bundled-sample", is_flag=True, help="Also ingest the signals bundled with the package.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def ingest(
    paths: tuple[Path, ...],
    registry_path: Path,
    kind: str,
    observed_at: datetime | None,
    bundled_sample: bool,
    as_json: bool,
) -> None:
    """Add observations from PATHS (robots folders, WARCs, parquet, TDMRep files, lists). Idempotent.

    Problems in files or rows are counted and listed; an input that cannot be read at all is
    reported, the other inputs still go in, and the exit status is 1.
    """
    if not paths and not bundled_sample:
        raise click.UsageError("give PATHS to ingest, or --bundled-sample")
    from apertus_compliance.optout import IngestReport, Registry, ingest_bundled_sample

    report = IngestReport(",".join(str(p) for p in paths) or "bundled sample")
    progress = Progress()  # one line on a terminal's standard error; nothing in pipes or CI
    try:
        with Registry(registry_path) as registry:
            if bundled_sample:
                report.merge(ingest_bundled_sample(registry, progress))
            for number, path in enumerate(paths, start=1):
                progress.update(
                    f"ingest: {number}/{len(paths)} inputs ({path.name}), {report.observed} observations read"
                )
                try:
                    report.merge(_ingest_one(registry, path, kind, observed_at))
                except (ValueError, OSError) as error:  # this input as a whole; the others still go in
                    report.outcomes["input:failed"] += 1
                    report.errors.append(f"{path}: {error}")
            total = registry.count()
    finally:
        progress.clear()
    if as_json:
        click.echo(json.dumps({**report.as_dict(), "registry_observations": total}, indent=2))
    else:
        click.echo(f"{report.summary()}; {total} in {registry_path}")
        for outcome, count in sorted(report.outcomes.items()):
            click.echo(f"  {outcome:<28} {count}")
        for error in report.errors:
            click.echo(f"  ! {error}", err=True)
    if report.outcomes["input:failed"]:
        raise click.ClickException(f"{report.outcomes['input:failed']} input(s) could not be ingested (see above)")


def _ingest_one(registry: Registry, path: Path, kind: str, observed_at: datetime | None) -> IngestReport:
    from apertus_compliance.optout import (
        ingest_rightsholder_list,
        ingest_robots_dir,
        ingest_robots_parquet,
        ingest_tdmrep,
        ingest_warc,
    )

    if kind == "auto":
        kind = _guess_kind(path)
    if kind == "robots-dir":
        return ingest_robots_dir(registry, path, observed_at)
    if kind == "robots-parquet":
        return ingest_robots_parquet(registry, path, observed_at)
    if kind == "warc":
        return ingest_warc(registry, path)
    if kind == "tdmrep":
        return ingest_tdmrep(registry, path, observed_at)
    return ingest_rightsholder_list(registry, path)


def _guess_kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".warc", ".warc.gz")):
        return "warc"
    if name.endswith(".parquet"):
        return "robots-parquet"
    if name.endswith(".csv") or (name.endswith(".json") and name != "tdmrep.json"):
        return "list"
    if name == "tdmrep.json" or (path.is_dir() and any(path.glob("*/.well-known/tdmrep.json"))):
        return "tdmrep"
    if path.is_dir() and any(path.glob("*.txt")):
        return "robots-dir"
    if path.is_dir() and any(path.glob("*.json")):
        return "tdmrep"
    raise ValueError(f"{path}: cannot tell what this is; pass --kind ({', '.join(KINDS[1:])})")


def _options(as_of: datetime, agents: str, granularity: str, strict: bool) -> SnapshotOptions:
    from apertus_compliance.optout import SnapshotOptions, load_agent_list

    return SnapshotOptions(as_of.date(), load_agent_list(agents), granularity, strict)


_agents_option = click.option(
    "--agents",
    default=DEFAULT_AGENT_LIST,
    show_default=True,
    help=f"Agent list: a bundled name ({', '.join(bundled_agent_lists())}) or a file.",
)
_granularity_option = click.option(
    "--granularity",
    type=click.Choice(GRANULARITIES),
    default="url",
    show_default=True,
    help="url: per path; domain: any reservation on a host reserves its whole registered domain.",
)
_strict_option = click.option(
    "--strict", is_flag=True, help="Treat an unreachable or unparsable robots.txt as a full reservation."
)


@optout.command()
@click.option("--registry", "registry_path", required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--as-of", required=True, type=_DATE, help="Observations up to the end of this day count.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Snapshot folder to write.")
@click.option("--force", is_flag=True, help="Replace --out if it exists and is not empty (refused otherwise).")
@_agents_option
@_granularity_option
@_strict_option
@click.option(
    "--memory-limit",
    help="What DuckDB may hold while reading the registry before it spills to disk (such as 4GB; "
    "default: 80%% of the machine's memory).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Processes that parse the observations while one writes (the same bytes for any number).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
def snapshot(
    registry_path: Path,
    as_of: datetime,
    out: Path,
    force: bool,
    agents: str,
    granularity: str,
    strict: bool,
    memory_limit: str | None,
    workers: int,
    as_json: bool,
) -> None:
    """Compile an immutable, content-addressed snapshot of the registry as of a date."""
    from apertus_compliance.folders import output_folder
    from apertus_compliance.optout import Registry, compile_snapshot

    options = _options(as_of, agents, granularity, strict)
    progress = Progress()  # one line on a terminal's standard error; nothing in pipes or CI
    progress.update(f"snapshot: compiling as of {options.as_of}")
    try:  # written beside --out, swapped in when complete: never a half-written snapshot folder
        with (
            output_folder(out, force) as staging,
            Registry(registry_path, read_only=True, memory_limit=memory_limit) as registry,
        ):
            manifest = compile_snapshot(registry, options, staging, workers)
    finally:
        progress.clear()
    if as_json:
        click.echo(json.dumps(manifest, indent=2, sort_keys=True))
        return
    counts = manifest["counts"]
    click.echo(f"snapshot {manifest['snapshot_id'][:16]} as of {manifest['as_of']} -> {out}")
    click.echo(f"  {counts['reserving_hosts']} hosts or domains with reservations, {counts['rules']} rules")
    for signal, hosts in counts["reserving_hosts_by_signal"].items():
        click.echo(f"  {signal:<20} {hosts}")


@optout.command("migrate-snapshot")
@click.argument("old", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Replace NEW if it exists.")
def migrate_snapshot(old: Path, new: Path, force: bool) -> None:
    """Rewrite a snapshot OLD of format 1 (parquet, loaded) or 2 (rule sets as text records) as format 3 NEW.

    NEW is the folder, and has the snapshot id, that compiling the same registry content gives now.
    """
    from apertus_compliance.folders import output_folder
    from apertus_compliance.optout.snapshot import migrate_snapshot as migrate

    with output_folder(new, force) as staging:
        manifest = migrate(old, staging)
    click.echo(
        f"snapshot {manifest['snapshot_id'][:16]} as of {manifest['as_of']} (format {manifest['format_version']}) -> {new}"
    )


@optout.command()
@click.argument("urls", nargs=-1)
@click.option("--snapshot", "snapshot_path", type=click.Path(exists=True, path_type=Path))
@click.option("--registry", "registry_path", type=click.Path(exists=True, path_type=Path))
@click.option("--as-of", type=_DATE, help="With --registry: compile a temporary snapshot as of this day.")
@_agents_option
@_granularity_option
@_strict_option
@click.option(
    "--robots",
    "robots_file",
    type=click.Path(exists=True, path_type=Path),
    help="Evaluate this robots.txt file directly for --agent and the URLs (or --url).",
)
@click.option("--agent", help="With --robots: the user agent, reduced to its product token (CCBot/2.0 -> ccbot).")
@click.option("--url", "robots_url", help="With --robots: the URL (or give URLs as arguments).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per URL).")
def check(
    urls: tuple[str, ...],
    snapshot_path: Path | None,
    registry_path: Path | None,
    as_of: datetime | None,
    agents: str,
    granularity: str,
    strict: bool,
    robots_file: Path | None,
    agent: str | None,
    robots_url: str | None,
    as_json: bool,
) -> None:
    """Say whether each URL may be used and, if not, which signal, agent, rule and observation reserve it.

    Exit status 0 when every URL may be used, 3 when one is reserved (1 or 2 on errors).
    """
    if robots_file:
        robots_urls = urls + ((robots_url,) if robots_url is not None else ())
        if agent is None or not robots_urls:
            raise click.UsageError("--robots needs --agent and a URL (an argument or --url)")
        _check_robots(robots_file, agent, robots_urls, as_json)
        return
    if not urls:
        raise click.UsageError("give one or more URLs")
    from apertus_compliance.optout import Registry, Snapshot, compile_snapshot

    if snapshot_path:
        answers = _answers(Snapshot(snapshot_path), urls)
    elif registry_path and as_of:
        options = _options(as_of, agents, granularity, strict)
        with tempfile.TemporaryDirectory() as folder, Registry(registry_path, read_only=True) as registry:
            compile_snapshot(registry, options, Path(folder))
            answers = _answers(Snapshot(folder), urls)
    else:
        raise click.UsageError("give --snapshot, or --registry with --as-of")
    for answer in answers:
        if as_json:
            click.echo(json.dumps(answer, sort_keys=True))
            continue
        click.echo(f"{'allowed ' if answer['allowed'] else 'reserved'} {answer['url']}")
        for reason in answer["reservations"]:
            agents_text = f" agents={','.join(reason['agents'])}" if reason["agents"] else ""
            line = f" line {reason['rule']['line']}" if reason["rule"]["line"] else ""
            click.echo(
                f"    {reason['signal']}{agents_text} [{reason['scope']} {reason['host']}]{line}: "
                f"{reason['rule']['text']!r} observed {(reason['observed_at'] or '')[:10]} "
                f"from {reason['source']}"
            )
    sys.exit(0 if all(a["allowed"] for a in answers) else RESERVED_EXIT_CODE)


def _answers(snapshot: Snapshot, urls: tuple[str, ...]) -> list[dict]:
    from apertus_compliance.optout import INVALID_URL

    answers = []
    for url in urls:
        reasons = snapshot.explain(url)
        answers.append(
            {
                "url": url,
                "allowed": not reasons,
                "valid_url": reasons != [INVALID_URL],
                "snapshot_id": snapshot.snapshot_id,
                "as_of": snapshot.as_of,
                "reservations": [r.as_dict() for r in reasons],
            }
        )
    return answers


def _check_robots(robots_file: Path, agent: str, urls: tuple[str, ...], as_json: bool) -> None:
    """One robots.txt file, one agent, each URL: the deciding rule as Google's parser reads the bytes."""
    from apertus_compliance.optout.robots import parse_robots, product_token

    token = product_token(agent)
    if not token:
        raise click.BadParameter(
            f"{agent!r} has no product token (it must start with letters, digits, '-' or '_', or be '*')",
            param_hint="--agent",
        )
    robots = parse_robots(robots_file.read_bytes())
    every_allowed = True
    for url in urls:
        rule = robots.decide(token, url)
        allowed = rule is None or rule.allow
        every_allowed &= allowed
        answer = {
            "allowed": allowed,
            "agent": agent,
            "url": url,
            "rule": None if rule is None else {"line": rule.line, "text": rule.text, "allow": rule.allow},
            "truncated": robots.truncated,
        }
        if as_json:
            click.echo(json.dumps(answer, sort_keys=True))
            continue
        where = f" by line {rule.line}: {rule.text!r}" if rule else " (no rule matches)"
        prefix = f"{url}: " if len(urls) > 1 else ""
        click.echo(f"{prefix}{'allowed' if allowed else 'disallowed'} for {token}{where}")
    sys.exit(0 if every_allowed else RESERVED_EXIT_CODE)


@optout.command()
@click.argument("old", type=click.Path(exists=True, path_type=Path))
@click.argument("new", type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print every changed observation and reservation as JSON.")
def diff(old: Path, new: Path, as_json: bool) -> None:
    """What changed from snapshot OLD to snapshot NEW: observations, and hosts that started or
    stopped reserving, per signal."""
    from apertus_compliance.optout import Snapshot, diff_snapshots

    changes = diff_snapshots(Snapshot(old), Snapshot(new))
    if as_json:
        click.echo(json.dumps(changes, indent=2))
        return
    click.echo(
        f"{changes['old']['as_of']} ({changes['old']['snapshot_id'][:16]}) -> "
        f"{changes['new']['as_of']} ({changes['new']['snapshot_id'][:16]})"
    )
    click.echo(
        f"  observations: {len(changes['observations_only_in_new'])} new or newer, "
        f"{len(changes['observations_only_in_old'])} replaced or gone"
    )
    for label, key in (("+", "reservations_added"), ("-", "reservations_removed")):
        for change in changes[key]:
            click.echo(f"  {label} {change['signal']:<18} {change['scope']} {change['host']}")


@optout.command("agents")
@click.argument("name", required=False)
def agents_command(name: str | None) -> None:
    """List the bundled agent lists, or the product tokens of one list (a name or a file)."""
    from apertus_compliance.optout import load_agent_list

    if name is None:
        for list_name in bundled_agent_lists():
            agent_list = load_agent_list(list_name)
            click.echo(f"{list_name:<28} {agent_list.label:<36} {len(agent_list.tokens)} tokens")
        return
    agent_list = load_agent_list(name)
    click.echo(f"# {agent_list.label} sha256={agent_list.sha256}")
    for token in agent_list.tokens:
        click.echo(token)
