"""The ``apertus-compliance`` command: one click group, a sub-group per area.

Two rules keep it quick and its errors uniform:

- an area's commands are imported when they run or show their help, and the area's command
  module imports its heavy libraries (datatrove, DuckDB, pyarrow, torch, presidio) inside the
  commands, so ``--help`` loads none of them;
- errors take one path, :func:`run`: an :class:`~apertus_compliance.errors.ApertusError` (bad
  input or state, named by its message), an ``OSError`` (a file that cannot be read or written)
  or a click error becomes one ``error: ...`` line on standard error and exit status 1 (2 for
  usage errors); any other exception is a bug and keeps its traceback. Commands do not convert
  errors themselves. A reader that leaves early (``| head``) ends the command quietly.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from collections.abc import Sequence

import click

from apertus_compliance import __version__
from apertus_compliance.errors import ApertusError

PROG_NAME = "apertus-compliance"
BROKEN_PIPE_EXIT = 128 + 13
"""Exit status when standard output's reader went away: what a shell reports for SIGPIPE."""

COMMANDS = {
    "optout": "apertus_compliance.optout.cli:optout",
    "rebuild": "apertus_compliance.pipeline.cli:rebuild_command",
    "verify": "apertus_compliance.pipeline.cli:verify_command",
    "deletion-list": "apertus_compliance.filters.cli:deletion_list",
    "redact": "apertus_compliance.filters.cli:redact",
    "serve": "apertus_compliance.serve.cli:serve_command",
    "proxy": "apertus_compliance.serve.cli:proxy_command",
    "manifest": "apertus_compliance.manifests.cli:manifest",
}
"""Command name -> ``module:attribute`` of its click command, imported on first use."""


class _ReaderLeft(Exception):
    """Standard output's reader closed the pipe; not an error of the command."""


class LazyGroup(click.Group):
    """A click group whose commands are ``{name: "module:attribute"}``, imported on first use."""

    def __init__(self, *args, lazy_commands: dict[str, str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_commands and cmd_name not in self.commands:
            module, _, attribute = self.lazy_commands[cmd_name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except BrokenPipeError as error:  # click would turn it into a plain exit status 1
            raise _ReaderLeft() from error


@click.group(PROG_NAME, cls=LazyGroup, lazy_commands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name=PROG_NAME)
def main() -> None:
    """Opt-out registry, reproducible rebuilds, output PII filter, serving and EU AI Act
    documents for the Apertus models."""


def _error(message: str) -> None:
    try:
        click.echo(f"error: {message}", err=True)
    except OSError:  # standard error is gone too; the exit status still tells
        pass


def _reader_left() -> int:
    """Python's advice for SIGPIPE: point standard output at devnull so nothing more is written."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return BROKEN_PIPE_EXIT


def run(args: Sequence[str] | None = None) -> int:
    """Run the command line ``args`` (default: ``sys.argv[1:]``) and return its exit status.

    The one place where errors become messages (see the module docstring).
    """
    try:
        try:
            code = main.main(args, prog_name=PROG_NAME, standalone_mode=False)
        except SystemExit as done:  # a command's own sys.exit(status), e.g. `optout check` exits 3 when reserved
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        sys.stdout.flush()  # output still buffered for a pipe fails here if its reader left
        return code if isinstance(code, int) and not isinstance(code, bool) else 0
    except (_ReaderLeft, BrokenPipeError):
        return _reader_left()
    except click.exceptions.NoArgsIsHelpError as error:
        error.show()
        return error.exit_code
    except click.UsageError as error:
        command = error.ctx.command_path if error.ctx is not None else PROG_NAME
        _error(f"{error.format_message()} (see: {command} --help)")
        return error.exit_code
    except click.ClickException as error:
        _error(error.format_message())
        return error.exit_code
    except click.Abort as error:
        _error("interrupted" if isinstance(error.__cause__, KeyboardInterrupt) else "aborted")
        return 130 if isinstance(error.__cause__, KeyboardInterrupt) else 1
    except (ApertusError, OSError) as error:
        _error(str(error))
        return 1
    except Exception:  # a bug: keep the whole story
        traceback.print_exc()
        return 1


def entry_point() -> None:
    """The console script: :func:`run`, then leave with its exit status without running native
    finalizers. With pandas installed, pyarrow's and pandas' static destructors abort the
    process at exit now and then ("terminate called without an active exception", exit 134)
    after all the work is done and written; the exit status must say how the command went."""
    code = run()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:
            pass
    os._exit(code)


if __name__ == "__main__":
    entry_point()
