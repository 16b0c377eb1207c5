"""The one base of the project's exceptions.

An :class:`ApertusError` is bad input or state the user can fix, and its message names the input
and what is wrong. The console command prints it as one ``error: ...`` line and exits with status
1 (see ``cli.entry_point``); any other exception is a bug and keeps its traceback. Each area's
error classes derive from it and keep a second base (``ValueError``, ``RuntimeError``) so that
``except ValueError`` callers keep working.
"""

__all__ = ["ApertusError"]


class ApertusError(Exception):
    """Bad input or state the user can fix; the message names the input and what is wrong."""
