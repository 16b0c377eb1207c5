"""``apertus-compliance rebuild`` and ``verify``: thin shells over ``rebuild.rebuild`` and
``lock.verify_run``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from apertus_compliance.pipeline.lock import read_lock, verify_run
from apertus_compliance.pipeline.rebuild import rebuild
from apertus_compliance.pipeline.recipe import RecipeError, bundled_recipe, load_recipe
from apertus_compliance.pipeline.steps import QUIET_ENV


def _quiet_datatrove(verbose: bool) -> None:
    """datatrove logs every file and task at INFO; keep them in logs/ only, unless --verbose."""
    from loguru import logger

    if not verbose:
        os.environ[QUIET_ENV] = "1"
        logger.disable("datatrove")


def summary_table(lock: dict) -> str:
    """Per source: read, kept, removed by reason, tokens against target."""
    rows = [("source", "read", "kept", "removed (by reason)", "tokens kept / target")]
    for source_id, entry in lock["sources"].items():
        documents, tokens = entry["documents"], entry["tokens"]
        removed = ", ".join(f"{reason} {count}" for reason, count in documents["removed"].items()) or "-"
        share = tokens["kept"] / tokens["target"]
        rows.append((source_id, f"{documents['read']:,}", f"{documents['kept']:,}", removed,
                     f"{tokens['kept']:,} / {tokens['target']:,} ({share:.0%})"))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) if column in (0, 3) else cell.rjust(width)
                       for column, (cell, width) in enumerate(zip(row, widths, strict=True))).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


@click.command("rebuild")
@click.option("--recipe", "recipe_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Recipe YAML (default: the bundled sample recipe, offline).")
@click.option("--out", "run_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("out"),
              show_default=True, help="Run directory; re-running resumes and is idempotent.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Parallel worker processes (default: the recipe's). Does not change the output.")
@click.option("--executor", type=click.Choice(["local", "slurm", "ray"]), default=None,
              help="datatrove executor (default: the recipe's): local processes, a Ray cluster, or Slurm jobs.")
@click.option("--provider", "provider_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=None, help="Provider file: end by writing the EU documents into RUN/documents "
                                 "(default for the bundled sample: its example provider).")
@click.option("--json", "as_json", is_flag=True, help="Print the lock as JSON instead of the table.")
@click.option("--verbose", is_flag=True, help="Show datatrove's own progress logs.")
def rebuild_command(recipe_path: Path | None, run_dir: Path, workers: int | None, executor: str | None,
                    provider_file: Path | None, as_json: bool, verbose: bool) -> None:
    """Rebuild a mixture from its recipe: opt-outs, PII masking, budgets, a verifiable lock,
    then (with a provider file) the EU AI Act documents."""
    from apertus_compliance.manifests.cli import sample_provider, write_documents
    from apertus_compliance.manifests.provider import ProviderError
    from apertus_compliance.manifests.run import RunError

    _quiet_datatrove(verbose)
    if recipe_path is None and provider_file is None:
        provider_file = sample_provider()
    echo = (lambda message: click.echo(message, err=True)) if as_json else click.echo
    try:
        loaded = load_recipe(recipe_path or bundled_recipe("sample"))
        echo(f"rebuild: {loaded.recipe.name} ({loaded.path}) -> {run_dir.resolve()}")
        if (executor or loaded.recipe.executor.name) == "slurm":
            from apertus_compliance.pipeline.slurm import submit_slurm

            jobs = submit_slurm(loaded, run_dir, workers=workers, echo=echo, provider_file=provider_file)
            if as_json:
                click.echo(json.dumps({"submitted": jobs}, indent=2, sort_keys=True))
            return
        lock = rebuild(loaded, run_dir, workers=workers, echo=echo, executor=executor)
        run_dir = run_dir.resolve()
        documents = write_documents([run_dir], provider_file, run_dir / "documents") if provider_file else []
    except (RecipeError, ProviderError, RunError, OSError, ValueError, RuntimeError) as error:
        raise click.ClickException(str(error)) from error
    if as_json:
        click.echo(json.dumps(lock, indent=2, sort_keys=True))
        return
    click.echo("")
    click.echo(summary_table(lock))
    click.echo(f"\nlock: {run_dir / 'rebuild.lock.json'}  (check it with: apertus-compliance verify {run_dir})")
    if documents:
        click.echo(f"documents ({provider_file.name}): " + ", ".join(str(path.relative_to(run_dir))
                                                                      for path in documents))


@click.command("verify")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Workers for the re-run (default: the lock's).")
@click.option("--verbose", is_flag=True, help="Show datatrove's own progress logs.")
def verify_command(run_dir: Path, workers: int | None, verbose: bool) -> None:
    """Re-run a rebuild from its lock into a temporary directory and report every difference.

    Exit code 0 when everything matches, 1 on any difference.
    """
    _quiet_datatrove(verbose)
    try:
        read_lock(run_dir)
        problems = verify_run(run_dir, echo=click.echo, workers=workers)
    except (ValueError, OSError) as error:
        raise click.ClickException(str(error)) from error
    if problems:
        for problem in problems:
            click.echo(f"MISMATCH {problem}")
        raise click.ClickException(f"{run_dir}: {len(problems)} difference(s) from the lock")
    click.echo(f"{run_dir}: verified, the re-run matches the lock (shards, counts, snapshot)")
