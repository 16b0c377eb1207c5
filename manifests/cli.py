"""``apertus-compliance manifest ...``: the EU AI Act documents of one or more finished runs."""

from __future__ import annotations

import json
from pathlib import Path

import click

from apertus_compliance.manifests.documents import DOCUMENTS, write_documents
from apertus_compliance.progress import Progress


def _run_documents(
    which: tuple[str, ...], run_dirs: tuple[Path, ...], provider_file: Path, out: Path, force: bool
) -> None:
    progress = Progress()  # one line on a terminal's standard error; nothing in pipes or CI
    try:
        written = write_documents(list(run_dirs), provider_file, out, which, progress=progress, force=force)
    finally:
        progress.clear()
    for path in written:
        click.echo(f"wrote {path}")


def _command(name: str, which: tuple[str, ...], summary: str) -> click.Command:
    @click.command(name, help=summary)
    @click.option(
        "--run",
        "run_dirs",
        type=click.Path(file_okay=False, exists=True, path_type=Path),
        multiple=True,
        required=True,
        help="A finished rebuild (repeat for pre- and post-training runs).",
    )
    @click.option(
        "--provider",
        "provider_file",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        required=True,
        help="Provider and model description (YAML).",
    )
    @click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Output folder.")
    @click.option("--force", is_flag=True, help="Replace documents that exist (refused otherwise).")
    def command(run_dirs: tuple[Path, ...], provider_file: Path, out: Path, force: bool) -> None:
        _run_documents(which, run_dirs, provider_file, out, force)

    return command


@click.group("manifest")
def manifest() -> None:
    """EU AI Act documents computed from rebuild runs (refused when a run's lock does not verify)."""


manifest.add_command(
    _command(
        "eu-summary", ("eu-summary",), "Public Summary of Training Content: JSON (+ schema), Markdown, printable HTML."
    )
)
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
    from apertus_compliance.manifests import eu_summary
    from apertus_compliance.manifests.run import Run

    old_runs, new_runs = [Run.open(old)], [Run.open(new)]
    if as_json:
        click.echo(json.dumps(eu_summary.diff_summaries(old_runs, new_runs), indent=2, sort_keys=True, default=str))
    else:
        click.echo(eu_summary.diff_markdown(old_runs, new_runs))
