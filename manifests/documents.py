"""Write the EU AI Act documents of finished runs: the library behind ``apertus-compliance manifest``
and the end of ``rebuild --provider``. Light to import: DuckDB and pydantic load when documents are written."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path

from apertus_compliance.folders import OutputExistsError
from apertus_compliance.paths import bundled_data
from apertus_compliance.progress import QUIET, Progress

__all__ = ["DOCUMENTS", "sample_provider", "write_documents"]

DOCUMENTS = ("eu-summary", "model-doc", "croissant", "card")


def sample_provider() -> Path:
    """The example provider file shipped for the bundled sample run."""
    return bundled_data() / "providers" / "sample.yaml"


def write_documents(
    run_dirs: list[Path],
    provider_file: Path,
    out: Path,
    which: tuple[str, ...] = DOCUMENTS,
    progress: Progress = QUIET,
    force: bool = True,
) -> list[Path]:
    """Write the chosen documents for ``run_dirs``; returns the files written.

    The summary and the model documentation cover all runs and go into ``out``. Croissant
    (``croissant.json``) and the dataset card (``README.md``) describe one mixture and go into
    its run directory, next to the shards they point to, so the folder can be published as is.
    Each file is written through a temporary sibling and a rename: an interrupted step leaves
    whole files only. Without ``force``, documents that already exist are refused (all named)
    before anything is written.
    """
    from apertus_compliance.manifests import card, croissant, eu_summary, model_doc
    from apertus_compliance.manifests.provider import load_provider
    from apertus_compliance.manifests.run import Run

    provider = load_provider(provider_file)
    runs = [Run.open(run_dir) for run_dir in run_dirs]
    writers: list[tuple[Path, Callable[[Path], None]]] = []  # (file, writes it to the path given)

    def text(name: str, produce: Callable[[], str]) -> None:
        writers.append((out / name, lambda path: path.write_text(produce(), encoding="utf-8")))

    if "eu-summary" in which:
        summary = cache(lambda: eu_summary.build_summary(runs, provider))
        text("eu-public-summary.json", lambda: eu_summary.to_json(summary()))
        text("eu-public-summary.md", lambda: eu_summary.to_markdown(summary()))
        text("eu-public-summary.html", lambda: eu_summary.to_html(summary()))
        text("eu-public-summary.schema.json", lambda: json.dumps(eu_summary.summary_json_schema(), indent=2) + "\n")
    if "model-doc" in which:
        documentation = cache(lambda: model_doc.model_documentation(runs, provider))
        policy = cache(lambda: model_doc.copyright_policy(runs, provider))
        text("model-documentation-data.json", lambda: documentation().model_dump_json(indent=2) + "\n")
        text("model-documentation-data.md", lambda: documentation().to_markdown())
        text("copyright-policy.json", lambda: policy().model_dump_json(indent=2) + "\n")
        text("copyright-policy.md", lambda: policy().to_markdown())
    for run in runs:
        if "croissant" in which:
            writers.append(
                (run.dir / "croissant.json", lambda path, run=run: croissant.write_croissant(run, provider, path))
            )
        if "card" in which:
            writers.append((run.dir / "README.md", lambda path, run=run: card.write_card(run, provider, path)))
    if not force and (existing := [path for path, _ in writers if path.exists()]):
        raise OutputExistsError("documents exist: " + ", ".join(map(str, existing)) + "; use --force to replace them")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for number, (path, write) in enumerate(writers, start=1):
        progress.update(f"documents: {number}/{len(writers)} ({path.name})")
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # same folder: relative links stay right
        try:
            write(temporary)
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        written.append(path)
    return written
