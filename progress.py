"""A one-line progress display for long work, shown on a terminal and nowhere else.

Long work (ingest, the rebuild's stages, verify) says what it is doing with
``progress.update("rebuild: filter 6 sources 3/11 tasks")``. When standard error is a
terminal and ``CI`` is not set, that line is rewritten in place with ``\\r`` and erased when the
work ends or before any other output; in a pipe, a log file or CI nothing at all is written, so
what scripts read stays exactly what it was. Plain writes, no dependency.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TextIO

__all__ = ["Progress", "progress_wanted"]


def progress_wanted(stream: TextIO) -> bool:
    """True when ``stream`` is a terminal and the environment is not CI (``CI`` set, and not false)."""
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class Progress:
    """One status line on ``stream`` (standard error by default), or nothing when not wanted.

    ``enabled`` overrides the terminal check (tests, or a caller that knows better). Safe to call
    from a watcher thread and the main thread at once.
    """

    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = progress_wanted(self.stream) if enabled is None else enabled
        self._shown = 0
        self._lock = threading.Lock()

    def update(self, text: str) -> None:
        """Show ``text`` in place of the previous line (cut to the terminal's width)."""
        if not self.enabled:
            return
        width = max(20, shutil.get_terminal_size((100, 24)).columns - 1)
        line = text.replace("\n", " ")[:width]
        with self._lock:
            self.stream.write("\r" + line + " " * max(0, self._shown - len(line)))
            self.stream.flush()
            self._shown = len(line)

    def clear(self) -> None:
        """Erase the line: before other output, and when the work is done."""
        if not self.enabled or not self._shown:
            return
        with self._lock:
            self.stream.write("\r" + " " * self._shown + "\r")
            self.stream.flush()
            self._shown = 0

    def echo(self, write: Callable[[str], None]) -> Callable[[str], None]:
        """``write`` with the progress line erased first, so messages never land inside it."""

        def cleared(message: str) -> None:
            self.clear()
            write(message)

        return cleared

    @contextlib.contextmanager
    def watch(self, poll: Callable[[], str], interval: float = 0.25) -> Iterator[None]:
        """While the block runs, show ``poll()`` every ``interval`` seconds (for work done in other
        processes, such as datatrove tasks, which report only through files)."""
        if not self.enabled:
            yield
            return
        stop = threading.Event()

        def loop() -> None:
            while True:
                with contextlib.suppress(OSError):
                    self.update(poll())
                if stop.wait(interval):
                    return

        thread = threading.Thread(target=loop, name="progress", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            with contextlib.suppress(OSError):
                self.update(poll())


QUIET = Progress(enabled=False)
"""A progress that shows nothing: the default of every library function that reports progress."""
