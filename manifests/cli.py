"""``apertus-compliance manifest ...``: the EU AI Act documents of one or more finished runs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import click

from apertus_compliance.manifests.documents import DOCUMENTS, write_documents
from apertus_compliance.progress import Progress


def _run_documents(
    which: tuple[str, ...],
    run_dirs: tuple[Path, ...],
    provider_file: Path | None,
    out: Path,
    force: bool,
    inventory_file: Path | None = None,
) -> None:
    progress = Progress()  # one line on a terminal's standard error; nothing in pipes or CI
    try:
        written = write_documents(
            list(run_dirs),
            provider_file,
            out,
            which,
            progress=progress,
            force=force,
            inventory_file=inventory_file,
            pdf=True,
        )
    finally:
        progress.clear()
    for path in written:
        click.echo(f"wrote {path}")


_inventory_option = click.option(
    "--inventory",
    "inventory_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Training inventory (YAML): the provider, the models and every stage with its runs and datasets.",
)


def _out_options(command: Callable) -> Callable:
    """``--out`` and ``--force``, as every document command takes them."""
    command = click.option("--force", is_flag=True, help="Replace documents that exist (refused otherwise).")(command)
    return click.option(
        "--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Output folder."
    )(command)


def _command(name: str, which: tuple[str, ...], summary: str) -> click.Command:
    @click.command(name, help=summary)
    @click.option(
        "--run",
        "run_dirs",
        type=click.Path(file_okay=False, exists=True, path_type=Path),
        multiple=True,
        help="A finished rebuild (repeat for pre- and post-training runs); with --provider.",
    )
    @click.option(
        "--provider",
        "provider_file",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        help="Provider and model description (YAML), for the runs given with --run.",
    )
    @_inventory_option
    @_out_options
    def command(
        run_dirs: tuple[Path, ...], provider_file: Path | None, inventory_file: Path | None, out: Path, force: bool
    ) -> None:
        if (provider_file is None) == (inventory_file is None) or (provider_file is not None and not run_dirs):
            raise click.UsageError("give --run DIR ... --provider FILE, or --inventory FILE")
        _run_documents(which, run_dirs, provider_file, out, force, inventory_file)

    return command


@click.group("manifest")
def manifest() -> None:
    """EU AI Act documents computed from rebuild runs (refused when a run's lock does not verify)."""


def _stage_runs(values: tuple[str, ...]) -> dict[str, Path]:
    """``--run STAGE=PATH`` values of the inventory form, by stage id."""
    runs: dict[str, Path] = {}
    for value in values:
        stage, equals, path = value.partition("=")
        if not equals or not stage or not path:
            raise click.BadParameter(f"{value!r}: with --inventory, give STAGE=PATH (a stage id of the inventory)")
        if not Path(path).is_dir():
            raise click.BadParameter(f"{value!r}: {path} is not a folder")
        if stage in runs:
            raise click.BadParameter(f"{value!r}: stage {stage} is given two runs")
        runs[stage] = Path(path).resolve()
    return runs


@manifest.command("eu-summary")
@_inventory_option
@click.option(
    "--run",
    "run_values",
    multiple=True,
    help="With --inventory: STAGE=PATH adds a finished rebuild to a stage. With --provider: a finished "
    "rebuild (repeat for pre- and post-training runs).",
)
@click.option(
    "--provider",
    "provider_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Provider file (YAML), for the runs given with --run (a one-stage inventory).",
)
@_out_options
def eu_summary_command(
    inventory_file: Path | None, run_values: tuple[str, ...], provider_file: Path | None, out: Path, force: bool
) -> None:
    """Public Summary of Training Content: PDF, printable HTML, Markdown, JSON (+ schema)."""
    from apertus_compliance.manifests.eu_summary import summarise, write_summary
    from apertus_compliance.manifests.inventory import inventory_from_provider, load_inventory
    from apertus_compliance.manifests.provider import load_provider

    if (inventory_file is None) == (provider_file is None):
        raise click.UsageError("give --inventory FILE [--run STAGE=PATH ...], or --run DIR ... --provider FILE")
    if inventory_file is not None:
        inventory = load_inventory(inventory_file, runs=_stage_runs(run_values))
    else:
        missing = [value for value in run_values if not Path(value).is_dir()]
        if not run_values or missing:
            raise click.UsageError(
                f"--provider needs --run folders of finished rebuilds{': not found ' + ', '.join(missing) if missing else ''}"
            )
        inventory = inventory_from_provider(load_provider(provider_file), [Path(value) for value in run_values])
    progress = Progress()  # one line on a terminal's standard error; nothing in pipes or CI
    try:
        progress.update("EU public summary: computing")
        summary = summarise(inventory)
        progress.update("EU public summary: writing (PDF included)")
        written = write_summary(summary, out, force=force)
    finally:
        progress.clear()
    for path in written:
        click.echo(f"wrote {path}")


manifest.add_command(
    _command("model-doc", ("model-doc",), "Model Documentation Form, data section, and the copyright-policy facts.")
)
manifest.add_command(
    _command(
        "croissant",
        ("croissant",),
        "Croissant 1.1 JSON-LD with RAI fields, written as RUN/croissant.json (next to the shards).",
    )
)
manifest.add_command(
    _command("card", ("card",), "Hugging Face dataset card, written as RUN/README.md (YAML front matter).")
)
manifest.add_command(_command("all", DOCUMENTS, "Every document above."))


@manifest.command("diff")
@click.argument("old", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument("new", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="The differences as JSON.")
def diff(old: Path, new: Path, as_json: bool) -> None:
    """What changed between two runs: tokens, removals per signal, languages, datasets, domains."""
    from apertus_compliance.manifests import summary_diff
    from apertus_compliance.manifests.run import Run

    old_runs, new_runs = [Run.open(old)], [Run.open(new)]
    if as_json:
        click.echo(json.dumps(summary_diff.diff_summaries(old_runs, new_runs), indent=2, sort_keys=True, default=str))
    else:
        click.echo(summary_diff.diff_markdown(old_runs, new_runs))
