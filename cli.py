"""The ``apertus-compliance`` command: one click group, a sub-group per area."""

import click

from apertus_compliance import __version__
from apertus_compliance.filters.cli import deletion_list, redact
from apertus_compliance.manifests.cli import manifest
from apertus_compliance.optout.cli import optout
from apertus_compliance.pipeline.cli import rebuild_command, verify_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="apertus-compliance")
def main() -> None:
    """Opt-out registry, reproducible rebuilds, output PII filter and EU AI Act documents
    for the Apertus models."""


main.add_command(optout)
main.add_command(rebuild_command)
main.add_command(verify_command)
main.add_command(deletion_list)
main.add_command(redact)
main.add_command(manifest)
