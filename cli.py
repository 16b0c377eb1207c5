"""The ``apertus-compliance`` command: one click group, a sub-group per area."""

import os
import sys

import click

from apertus_compliance import __version__
from apertus_compliance.filters.cli import deletion_list, redact
from apertus_compliance.manifests.cli import manifest
from apertus_compliance.optout.cli import optout
from apertus_compliance.pipeline.cli import rebuild_command, verify_command
from apertus_compliance.serve.cli import proxy_command, serve_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="apertus-compliance")
def main() -> None:
    """Opt-out registry, reproducible rebuilds, output PII filter, serving and EU AI Act
    documents for the Apertus models."""


main.add_command(optout)
main.add_command(rebuild_command)
main.add_command(verify_command)
main.add_command(deletion_list)
main.add_command(redact)
main.add_command(serve_command)
main.add_command(proxy_command)
main.add_command(manifest)


def entry_point() -> None:
    """The console script: run ``main``, then leave with its exit code without running native
    finalizers. With pandas installed, pyarrow's and pandas' static destructors abort the
    process at exit now and then ("terminate called without an active exception", exit 134)
    after all the work is done and written; the exit code must say how the command went."""
    try:
        main()
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
