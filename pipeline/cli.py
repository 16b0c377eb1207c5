"""``apertus-compliance rebuild`` and ``verify``: thin shells over ``rebuild.rebuild`` and
``lock.verify_run``. datatrove, pyarrow and DuckDB load inside the commands: ``--help`` stays fast."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from apertus_compliance.progress import Progress


def _quiet_datatrove(verbose: bool) -> None:
    """datatrove logs every file and task at INFO; keep them in logs/ only, unless --verbose."""
    from loguru import logger

    from apertus_compliance.pipeline.steps import QUIET_ENV

    if not verbose:
        os.environ[QUIET_ENV] = "1"
        logger.disable("datatrove")


def summary_table(lock: dict) -> str:
    """Per source: read, kept, removed by reason, tokens against target."""
    rows = [("source", "read", "kept", "removed (by reason)", "tokens kept / target")]
    for source_id, entry in lock["sources"].items():
        documents, tokens = entry["documents"], entry["tokens"]
        removed = ", ".join(f"{reason} {count}" for reason, count in documents["removed"].items()) or "-"
        trained = tokens.get("kept_with_repetition", tokens["kept"])  # the budget counts every epoch
        epochs = f"{entry['epochs']} x {tokens['kept']:,} = " if entry.get("epochs", 1) > 1 else ""
        rows.append(
            (
                source_id,
                f"{documents['read']:,}",
                f"{documents['kept']:,}",
                removed,
                f"{epochs}{trained:,} / {tokens['target']:,} ({trained / tokens['target']:.0%})",
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.ljust(width) if column in (0, 3) else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


@click.command("rebuild")
@click.option(
    "--recipe",
    "recipe_path",
    metavar="FILE|NAME",
    default=None,
    help="Recipe YAML, or the name of a bundled recipe: sample, phase5 (default: sample, offline).",
)
@click.option(
    "--out",
    "run_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("out"),
    show_default=True,
    help="Run directory; re-running the same recipe resumes and is idempotent.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace a non-empty --out: rebuild from scratch beside it, swap it in "
    "at the end (without it, a run of this recipe resumes, anything else "
    "is refused).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Parallel worker processes (default: the recipe's). Does not change the output.",
)
@click.option(
    "--executor",
    type=click.Choice(["local", "slurm", "ray"]),
    default=None,
    help="datatrove executor (default: the recipe's): local processes, a Ray cluster, or Slurm jobs.",
)
@click.option(
    "--provider",
    "provider_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Provider file: end by writing the EU documents into RUN/documents "
    "(default for the bundled sample: its example provider).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the lock as JSON instead of the table.")
@click.option("--verbose", is_flag=True, help="Show datatrove's own progress logs.")
def rebuild_command(
    recipe_path: str | None,
    run_dir: Path,
    force: bool,
    workers: int | None,
    executor: str | None,
    provider_file: Path | None,
    as_json: bool,
    verbose: bool,
) -> None:
    """Rebuild a mixture from its recipe: opt-outs, PII masking, budgets, a verifiable lock,
    then (with a provider file) the EU AI Act documents."""
    from apertus_compliance.manifests import sample_provider, write_documents
    from apertus_compliance.pipeline import load_recipe, rebuild_mixture
    from apertus_compliance.pipeline.lock import record_documents
    from apertus_compliance.pipeline.rebuild import run_folder

    _quiet_datatrove(verbose)
    if recipe_path is None and provider_file is None:
        provider_file = sample_provider()
    progress = Progress()  # one line on a terminal's standard error; nothing in pipes or CI
    echo = progress.echo((lambda message: click.echo(message, err=True)) if as_json else click.echo)
    loaded = load_recipe(recipe_path or "sample")
    echo(f"rebuild: {loaded.recipe.name} ({loaded.path}) -> {run_dir.resolve()}")
    if (executor or loaded.recipe.executor.name) == "slurm":
        from apertus_compliance.pipeline.slurm import submit_slurm

        if force:
            raise click.UsageError("--force cannot replace a folder that Slurm jobs will write; remove it first")
        jobs = submit_slurm(loaded, run_dir, workers=workers, echo=echo, provider_file=provider_file)
        if as_json:
            click.echo(json.dumps({"submitted": jobs}, indent=2, sort_keys=True))
        return
    run_dir = run_dir.resolve()
    try:
        with run_folder(run_dir, force) as target:
            lock = rebuild_mixture(
                loaded,
                target,
                workers=workers,
                echo=echo,
                executor=executor,
                provider_file=provider_file,
                progress=progress,
            )
            documents = []
            if provider_file:  # the run is complete only once its documents are recorded
                documents = write_documents([target], provider_file, target / "documents", progress=progress, pdf=True)
                lock = record_documents(target, documents)
                documents = [run_dir / path.relative_to(target) for path in documents]
    finally:
        progress.clear()
    if as_json:
        click.echo(json.dumps(lock, indent=2, sort_keys=True))
        return
    click.echo("")
    click.echo(summary_table(lock))
    click.echo(f"\nlock: {run_dir / 'rebuild.lock.json'}  (check it with: apertus-compliance verify {run_dir})")
    if documents:
        click.echo(
            f"documents ({provider_file.name}): " + ", ".join(str(path.relative_to(run_dir)) for path in documents)
        )


@click.command("verify")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--workers", type=click.IntRange(min=1), default=None, help="Workers for the re-run (default: the lock's)."
)
@click.option("--verbose", is_flag=True, help="Show datatrove's own progress logs.")
def verify_command(run_dir: Path, workers: int | None, verbose: bool) -> None:
    """Re-run a rebuild from its lock into a temporary directory and report every difference.

    Exit code 0 when everything matches, 1 on any difference.
    """
    from apertus_compliance.pipeline import read_lock, verify_run

    _quiet_datatrove(verbose)
    read_lock(run_dir)
    progress = Progress()  # one line on a terminal's standard error; nothing in pipes or CI
    try:
        problems = verify_run(run_dir, echo=progress.echo(click.echo), workers=workers, progress=progress)
    finally:
        progress.clear()
    if problems:
        for problem in problems:
            click.echo(f"MISMATCH {problem}")
        raise click.ClickException(f"{run_dir}: {len(problems)} difference(s) from the lock")
    click.echo(f"{run_dir}: verified, the re-run matches the lock (shards, counts, snapshot)")
