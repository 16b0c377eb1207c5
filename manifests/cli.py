"""``apertus-compliance manifest ...``: the EU AI Act documents of one or more finished runs."""

from __future__ import annotations

import json
from pathlib import Path

import click

from apertus_compliance.manifests.provider import ProviderError, load_provider
from apertus_compliance.manifests.run import Run, RunError
from apertus_compliance.paths import bundled_data

DOCUMENTS = ("eu-summary", "model-doc", "croissant", "card")


def sample_provider() -> Path:
    """The example provider file shipped for the bundled sample run."""
    return bundled_data() / "providers" / "sample.yaml"


def write_documents(run_dirs: list[Path], provider_file: Path, out: Path,
                    which: tuple[str, ...] = DOCUMENTS) -> list[Path]:
    """Write the chosen documents for ``run_dirs``; returns the files written.

    The summary and the model documentation cover all runs and go into ``out``. Croissant
    (``croissant.json``) and the dataset card (``README.md``) describe one mixture and go into
    its run directory, next to the shards they point to, so the folder can be published as is.
    """
    from apertus_compliance.manifests import card, croissant, eu_summary, model_doc

    provider = load_provider(provider_file)
    runs = [Run.open(run_dir) for run_dir in run_dirs]
    out.mkdir(parents=True, exist_ok=True)
    written = []

    def write(name: str, text: str) -> None:
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)

    if "eu-summary" in which:
        summary = eu_summary.build_summary(runs, provider)
        write("eu-public-summary.json", eu_summary.to_json(summary))
        write("eu-public-summary.md", eu_summary.to_markdown(summary))
        write("eu-public-summary.html", eu_summary.to_html(summary))
        write("eu-public-summary.schema.json", json.dumps(eu_summary.summary_json_schema(), indent=2) + "\n")
    if "model-doc" in which:
        documentation = model_doc.model_documentation(runs, provider)
        policy = model_doc.copyright_policy(runs, provider)
        write("model-documentation-data.json", documentation.model_dump_json(indent=2) + "\n")
        write("model-documentation-data.md", documentation.to_markdown())
        write("copyright-policy.json", policy.model_dump_json(indent=2) + "\n")
        write("copyright-policy.md", policy.to_markdown())
    for run in runs:
        if "croissant" in which:
            written.append(croissant.write_croissant(run, provider, run.dir / "croissant.json"))
        if "card" in which:
            written.append(card.write_card(run, provider, run.dir / "README.md"))
    return written


def _run_documents(which: tuple[str, ...], run_dirs: tuple[Path, ...], provider_file: Path, out: Path) -> None:
    try:
        written = write_documents(list(run_dirs), provider_file, out, which)
    except (ProviderError, RunError, ValueError, OSError) as error:
        raise click.ClickException(str(error)) from error
    for path in written:
        click.echo(f"wrote {path}")


def _command(name: str, which: tuple[str, ...], summary: str) -> click.Command:
    @click.command(name, help=summary)
    @click.option("--run", "run_dirs", type=click.Path(file_okay=False, exists=True, path_type=Path), multiple=True,
                  required=True, help="A finished rebuild (repeat for pre- and post-training runs).")
    @click.option("--provider", "provider_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
                  required=True, help="Provider and model description (YAML).")
    @click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Output folder.")
    def command(run_dirs: tuple[Path, ...], provider_file: Path, out: Path) -> None:
        _run_documents(which, run_dirs, provider_file, out)

    return command


@click.group("manifest")
def manifest() -> None:
    """EU AI Act documents computed from rebuild runs (refused when a run's lock does not verify)."""


manifest.add_command(_command("eu-summary", ("eu-summary",),
                              "Public Summary of Training Content: JSON (+ schema), Markdown, printable HTML."))
manifest.add_command(_command("model-doc", ("model-doc",),
                              "Model Documentation Form, data section, and the copyright-policy facts."))
manifest.add_command(_command("croissant", ("croissant",),
                              "Croissant 1.1 JSON-LD with RAI fields, written as RUN/croissant.json (next to the shards)."))
manifest.add_command(_command("card", ("card",),
                              "Hugging Face dataset card, written as RUN/README.md (YAML front matter)."))
manifest.add_command(_command("all", DOCUMENTS, "Every document above."))


@manifest.command("diff")
@click.argument("old", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument("new", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="The differences as JSON.")
def diff(old: Path, new: Path, as_json: bool) -> None:
    """What changed between two runs: tokens, removals per signal, languages, datasets, domains."""
    from apertus_compliance.manifests import eu_summary

    try:
        old_runs, new_runs = [Run.open(old)], [Run.open(new)]
        if as_json:
            click.echo(json.dumps(eu_summary.diff_summaries(old_runs, new_runs), indent=2, sort_keys=True, default=str))
        else:
            click.echo(eu_summary.diff_markdown(old_runs, new_runs))
    except (RunError, ValueError) as error:
        raise click.ClickException(str(error)) from error
