"""Output folders: an existing folder with content is never overwritten silently.

``output_folder(out, force)`` refuses an ``out`` that exists and is not empty unless ``force``,
then yields a new sibling folder to write into and, when the block succeeds, puts it in place
of ``out``. A reader never sees a half-written folder, and an interrupted or failed command
leaves the previous ``out`` exactly as it was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from apertus_compliance.errors import ApertusError

__all__ = ["OutputExistsError", "check_output_folder", "output_folder", "replace_folder"]


class OutputExistsError(ApertusError, ValueError):
    """An output folder that exists and is not empty, without ``--force``; the message names it."""


def has_content(folder: Path) -> bool:
    """True when ``folder`` exists and holds anything (a file in place of a folder counts)."""
    folder = Path(folder)
    if folder.is_dir():
        return any(folder.iterdir())
    return folder.exists() or folder.is_symlink()


def check_output_folder(out: str | Path, force: bool = False) -> bool:
    """Whether ``out`` has content that ``force`` allows to replace; refused (naming it) without ``force``,
    and always when ``out`` is a file, not a folder."""
    out = Path(out)
    if (out.exists() or out.is_symlink()) and not out.is_dir():
        raise OutputExistsError(f"{out}: exists and is not a folder; choose another --out")
    if not has_content(out):
        return False
    if not force:
        raise OutputExistsError(
            f"{out}: the folder exists and is not empty; use --force to replace it, or another --out"
        )
    return True


def replace_folder(new: Path, out: Path) -> None:
    """Put the folder ``new`` at ``out`` (a sibling), replacing what is there: ``out`` is the old
    folder until one rename makes it the new one; the old one is removed afterwards."""
    new, out = Path(new), Path(out)
    if not out.exists():
        new.rename(out)
        return
    try:
        os.rmdir(out)  # an empty folder: nothing to keep
    except OSError:
        old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
        out.rename(old)
        try:
            new.rename(out)
        except OSError:
            old.rename(out)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        new.rename(out)


def staging_sibling(out: Path, tag: str | None = None) -> Path:
    """A hidden sibling of ``out`` to build a replacement in (same filesystem, so it can be renamed)."""
    return out.with_name(f".{out.name}.{tag or 'partial-' + uuid.uuid4().hex[:8]}")


@contextlib.contextmanager
def output_folder(out: str | Path, force: bool = False) -> Iterator[Path]:
    """Yield a new, empty folder next to ``out`` to write into; when the block succeeds it becomes ``out``.

    An ``out`` that exists and is not empty is refused unless ``force`` (checked before anything
    is written). On any failure, or Ctrl-C, the new folder is removed and ``out`` is untouched.
    """
    out = Path(out).resolve()
    check_output_folder(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_sibling(out)
    staging.mkdir()
    try:
        yield staging
        replace_folder(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
