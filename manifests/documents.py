"""Write the EU AI Act documents of finished runs: the library behind ``apertus-compliance manifest``
and the end of ``rebuild --provider``. Light to import: DuckDB and pydantic load when documents are written."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from apertus_compliance.folders import OutputExistsError
from apertus_compliance.paths import bundled_data
from apertus_compliance.progress import QUIET, Progress

if TYPE_CHECKING:
    from apertus_compliance.manifests.inventory import Inventory

__all__ = ["DOCUMENTS", "documents_inventory", "sample_provider", "write_documents"]

DOCUMENTS = ("eu-summary", "model-doc", "croissant", "card")


def sample_provider() -> Path:
    """The example provider file shipped for the bundled sample run."""
    return bundled_data() / "providers" / "sample.yaml"


def documents_inventory(
    run_dirs: list[Path], provider_file: Path | None = None, inventory_file: Path | None = None
) -> Inventory:
    """The inventory every document is built from: an inventory file (``run_dirs`` must then be
    empty: the file names its runs), or the ``--run/--provider`` form as a one-stage inventory."""
    from apertus_compliance.manifests.inventory import InventoryError, inventory_from_provider, load_inventory
    from apertus_compliance.manifests.provider import load_provider

    if (provider_file is None) == (inventory_file is None):
        raise InventoryError("give a provider file (with runs) or an inventory file, not both and not neither")
    if inventory_file is not None:
        if run_dirs:
            raise InventoryError(
                f"{inventory_file}: an inventory names its own runs; add a run to a stage in the file "
                "(or with the eu-summary command's --run STAGE=PATH)"
            )
        return load_inventory(inventory_file)
    return inventory_from_provider(load_provider(provider_file), [Path(run_dir).resolve() for run_dir in run_dirs])


def write_documents(
    run_dirs: list[Path],
    provider_file: Path | None,
    out: Path,
    which: tuple[str, ...] = DOCUMENTS,
    progress: Progress = QUIET,
    force: bool = True,
    inventory_file: Path | None = None,
    pdf: bool = False,
) -> list[Path]:
    """Write the chosen documents; returns the files written.

    Every document is built from one inventory (:func:`documents_inventory`) and one opening of
    each run, so they cannot disagree. The summary, the model documentation and the copyright
    policy describe the models and go into ``out``. Croissant (``croissant.json``) and the
    dataset card (``README.md``) describe one mixture and go into its run directory, next to the
    shards they point to, so the folder can be published as is. Each file is written through a
    temporary sibling and a rename: an interrupted step leaves whole files only. Without
    ``force``, documents that already exist are refused (all named) before anything is written.
    ``pdf`` adds the summary's printable PDF (WeasyPrint; the ``manifest`` commands and ``rebuild`` ask for it).
    """
    from apertus_compliance.manifests import card, croissant, eu_summary, model_doc
    from apertus_compliance.manifests.run import Run

    inventory = documents_inventory(run_dirs, provider_file, inventory_file)
    runs = {run_dir: Run.open(run_dir) for run_dir in inventory.run_dirs()}
    writers: list[tuple[Path, Callable[[Path], None]]] = []  # (file, writes it to the path given)

    def text(name: str, produce: Callable[[], str]) -> None:
        writers.append((out / name, lambda path: path.write_text(produce(), encoding="utf-8")))

    if "eu-summary" in which:
        summary = cache(lambda: eu_summary.summarise(inventory, runs))
        html = cache(lambda: eu_summary.to_html(summary()))
        text("eu-public-summary.json", lambda: eu_summary.to_json(summary()))
        text("eu-public-summary.md", lambda: eu_summary.to_markdown(summary()))
        text("eu-public-summary.html", html)
        text("eu-public-summary.schema.json", lambda: json.dumps(eu_summary.summary_json_schema(), indent=2) + "\n")
        if pdf:
            from apertus_compliance.manifests.pdf import html_to_pdf

            writers.append((out / eu_summary.PDF_FILE, lambda path: path.write_bytes(html_to_pdf(html()))))
    if "model-doc" in which:
        documentation = cache(lambda: model_doc.model_documentation(inventory, runs))
        policy = cache(lambda: model_doc.copyright_policy(inventory, runs))
        text("model-documentation-data.json", lambda: documentation().model_dump_json(indent=2) + "\n")
        text("model-documentation-data.md", lambda: documentation().to_markdown())
        text("copyright-policy.json", lambda: policy().model_dump_json(indent=2) + "\n")
        text("copyright-policy.md", lambda: policy().to_markdown())
    for run in runs.values():
        if "croissant" in which:
            writers.append(
                (
                    run.dir / "croissant.json",
                    lambda path, run=run: croissant.write_croissant(run, inventory.provider, path),
                )
            )
        if "card" in which:
            writers.append(
                (run.dir / "README.md", lambda path, run=run: card.write_card(run, inventory.provider, path))
            )
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
