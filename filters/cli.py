"""``apertus-compliance deletion-list ...`` and ``redact``: thin shells over ``filters``.

numpy, cryptography and presidio load inside the commands, not with this module: ``--help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

import click

from apertus_compliance.filters.settings import DEFAULT_PLACEHOLDER, PATTERN_CLASSES


@click.group("deletion-list")
def deletion_list() -> None:
    """Build, sign, verify and compare deletion-list releases (the output PII filter's input)."""


@deletion_list.command("keygen")
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for private.key and public.key.",
)
def keygen(out: Path) -> None:
    """Make an ed25519 signing key pair. Keep private.key with the operator; publish public.key."""
    from apertus_compliance.filters import generate_keypair

    private, public = generate_keypair(out)
    click.echo(f"wrote {private} (keep it secret) and {public} (give it to deployers)")


@deletion_list.command("build")
@click.option(
    "--input",
    "requests",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    required=True,
    help="CSV with columns value,category[,region]; never leaves this machine.",
)
@click.option(
    "--key",
    "private_key",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    required=True,
    help="The signing key (private.key from keygen).",
)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Release folder.")
@click.option("--force", is_flag=True, help="Replace --out if it exists and is not empty (refused otherwise).")
@click.option("--version", "list_version", default=None, help="List version (default: the UTC date, YYYY.MM.DD).")
@click.option(
    "--created",
    type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"]),
    default=None,
    help="Creation time to record (default: now); fixed values make builds byte-identical.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
def build(
    requests: Path,
    private_key: Path,
    out: Path,
    force: bool,
    list_version: str | None,
    created: datetime | None,
    as_json: bool,
) -> None:
    """Hash, sign and write a release from the operator's private requests."""
    from datetime import UTC

    from apertus_compliance.filters import build_release
    from apertus_compliance.folders import output_folder

    if created is not None and created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    version = list_version or (created or datetime.now(UTC)).strftime("%Y.%m.%d")
    with output_folder(out, force) as staging:  # written beside --out, swapped in when complete
        manifest = build_release(requests, private_key, staging, version, created=created)
    if as_json:
        click.echo(json.dumps(manifest, indent=2, sort_keys=True))
        return
    counts = ", ".join(f"{category} {count}" for category, count in manifest["counts"].items() if count)
    click.echo(
        f"wrote release {manifest['list_version']} to {out}: {counts}; {manifest['entries']} hashes, "
        f"longest entry {manifest['max_tokens']} tokens"
    )


@deletion_list.command("verify")
@click.argument("release", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--public-key",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    required=True,
    help="The publisher's public key (configured by the deployer, never taken from the release).",
)
def verify(release: Path, public_key: Path) -> None:
    """Check a release as every loader does: the signature, every manifest field, the payload's hash
    and content, then a self-test redaction through it. Prints the first failing check and exits 1."""
    from apertus_compliance.filters import DeletionList

    listed = DeletionList.load(release, public_key)
    listed.verify_self_test()
    manifest = listed.manifest
    self_test = "canary redacted" if listed.canary else "probe redaction ran (no canary in this release)"
    click.echo(
        f"{release}: verified, version {manifest['list_version']} created {manifest['created']}, "
        f"{manifest['entries']} hashes; self-test: {self_test}"
    )


@deletion_list.command("diff")
@click.argument("old", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument("new", type=click.Path(file_okay=False, exists=True, path_type=Path))
def diff(old: Path, new: Path) -> None:
    """Counts that changed between two releases (JSON). The hashes reveal nothing more."""
    from apertus_compliance.filters import ReleaseError, diff_releases

    manifests = []
    for folder in (old, new):
        try:
            manifests.append(json.loads((folder / "manifest.json").read_text()))
        except (OSError, json.JSONDecodeError) as error:  # says which release, not only which file
            raise ReleaseError(f"{folder}: cannot read its manifest ({error})") from error
    click.echo(json.dumps(diff_releases(*manifests), indent=2, sort_keys=True))


@click.command("redact")
@click.option(
    "--deletion-list",
    "release",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="A release folder.",
)
@click.option(
    "--public-key",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="The publisher's public key (required with --deletion-list).",
)
@click.option(
    "--pattern",
    "patterns",
    multiple=True,
    type=click.Choice(PATTERN_CLASSES),
    help="Also redact this class always (presidio recognizer); repeatable.",
)
@click.option("--placeholder", default=DEFAULT_PLACEHOLDER, show_default=True)
@click.option("--stream", is_flag=True, help="Redact line by line as input arrives (same output).")
def redact(
    release: Path | None, public_key: Path | None, patterns: tuple[str, ...], placeholder: str, stream: bool
) -> None:
    """Redact standard input to standard output. Counts per category go to standard error."""
    if release is None and not patterns:
        raise click.UsageError("give --deletion-list (with --public-key) or at least one --pattern")
    if release is not None and public_key is None:
        raise click.UsageError("--deletion-list needs --public-key: the release alone proves nothing")
    from apertus_compliance.filters import DeletionList, Redactor

    listed = DeletionList.load(release, public_key) if release is not None else None
    redactor = Redactor(listed, patterns=patterns, placeholder=placeholder)
    source = click.get_text_stream("stdin", errors="replace")  # undecodable bytes become U+FFFD, never a crash
    if stream:
        pieces = redactor.stream()
        for line in source:
            sys.stdout.write(pieces.feed(line))
            sys.stdout.flush()
        sys.stdout.write(pieces.close())
        counts = pieces.counts
    else:
        text, counts = redactor.redact_with_counts(source.read())
        sys.stdout.write(text)
    click.echo(json.dumps({"redacted": dict(sorted(counts.items()))}), err=True)
