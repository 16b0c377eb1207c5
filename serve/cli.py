"""``apertus-compliance serve`` (the bundled engine) and ``proxy`` (any OpenAI-compatible upstream),
both behind the deletion-list filter. torch and transformers are imported only by ``serve``: they
are the ``serve`` extra, not the base install."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import click

from apertus_compliance.filters import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    DEFAULT_PLACEHOLDER,
    DEFAULT_TOTAL_TIMEOUT,
    PATTERN_CLASSES,
)


def filter_options(command):
    """The options ``serve`` and ``proxy`` share: where the list comes from and how strictly it is applied."""
    options = [
        click.option(
            "--deletion-list",
            "deletion_list",
            required=True,
            metavar="PATH_OR_URL",
            help="Release folder or https:// base URL of the signed deletion list.",
        ),
        click.option(
            "--public-key",
            type=click.Path(dir_okay=False, exists=True, path_type=Path),
            required=True,
            help="The publisher's ed25519 public key (PEM) that releases must be signed with.",
        ),
        click.option(
            "--refresh", default="24h", show_default=True, help="How often to check for a new release (s, m, h, d)."
        ),
        click.option(
            "--max-age",
            default="183d",
            show_default=True,
            help="A list older than this counts as missing in strict mode.",
        ),
        click.option(
            "--strict/--no-strict",
            default=True,
            show_default=True,
            help="Answer 503 on completion endpoints while no verified, fresh list is loaded "
            "(--no-strict serves unfiltered, marked x-deletion-list: none).",
        ),
        click.option(
            "--cache-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help="Keep the last verified release here, so a restart works while the source is down.",
        ),
        click.option(
            "--state-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help="Where the newest accepted release is recorded, so a restart never accepts an older one "
            "(default: --cache-dir, else $APERTUS_STATE_DIR or ~/.local/state/apertus-compliance).",
        ),
        click.option(
            "--max-download-bytes",
            default=DEFAULT_MAX_PAYLOAD_BYTES,
            show_default=True,
            type=click.IntRange(min=1),
            help="Refuse a release payload larger than this (https sources).",
        ),
        click.option(
            "--download-timeout",
            default=DEFAULT_TOTAL_TIMEOUT,
            show_default=True,
            type=click.FloatRange(min=0, min_open=True),
            help="Seconds one fetch of a release may take in all, however slowly a mirror sends.",
        ),
        click.option(
            "--pattern",
            "patterns",
            multiple=True,
            type=click.Choice(PATTERN_CLASSES),
            help="Also redact these pattern classes always (repeatable).",
        ),
        click.option("--placeholder", default=DEFAULT_PLACEHOLDER, show_default=True),
        click.option(
            "--max-request-bytes",
            default=4 * 1024 * 1024,
            show_default=True,
            type=click.IntRange(min=1),
            help="Answer 413 for a request body larger than this (checked before it is read whole).",
        ),
        click.option("--host", default="127.0.0.1", show_default=True),
        click.option("--port", default=8000, show_default=True, type=int),
        click.option(
            "--log-level", default="info", show_default=True, type=click.Choice(["debug", "info", "warning", "error"])
        ),
    ]
    return functools.reduce(lambda wrapped, option: option(wrapped), reversed(options), command)


def _output_filter(
    deletion_list: str,
    public_key: Path,
    refresh: str,
    max_age: str,
    strict: bool,
    cache_dir: Path | None,
    state_dir: Path | None,
    max_download_bytes: int,
    download_timeout: float,
    patterns: tuple[str, ...],
    placeholder: str,
):
    from apertus_compliance.filters import RefreshingDeletionList
    from apertus_compliance.serve.output_filter import OutputFilter

    refresher = RefreshingDeletionList(
        deletion_list,
        public_key,
        interval=refresh,
        max_age=max_age,
        strict=strict,
        cache_dir=cache_dir,
        state_dir=state_dir,
        total_timeout=download_timeout,
        max_payload_bytes=max_download_bytes,
    )
    return OutputFilter(refresher, strict=strict, patterns=patterns, placeholder=placeholder)


def _run(app, host: str, port: int, log_level: str) -> None:
    import uvicorn

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=10)


@click.command("serve")
@click.option(
    "--model",
    default="swiss-ai/Apertus-0.5B-Instruct",
    show_default=True,
    metavar="PATH_OR_ID",
    help="A local checkpoint folder, or a hub id (needs the network or a filled hub cache).",
)
@click.option("--served-model-name", default=None, help="The model id clients send (default: --model).")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:1, ...")
@click.option(
    "--dtype",
    default="auto",
    show_default=True,
    type=click.Choice(["auto", "float32", "bfloat16", "float16"]),
    help="auto: bfloat16 on CUDA, float32 on CPU.",
)
@click.option("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice).")
@click.option(
    "--max-batch-size", default=16, show_default=True, type=int, help="Requests decoded together; more wait in a queue."
)
@click.option("--seed", type=int, default=None, help="Seed for requests that bring none (default: random).")
@filter_options
def serve_command(
    model: str,
    served_model_name: str | None,
    device: str,
    dtype: str,
    threads: int | None,
    max_batch_size: int,
    seed: int | None,
    max_request_bytes: int,
    host: str,
    port: int,
    log_level: str,
    **list_settings,
) -> None:
    """Serve MODEL behind an OpenAI-compatible API, every completion filtered by the deletion list."""
    output_filter = _output_filter(**list_settings)
    try:
        from apertus_compliance.serve.api import build_app
        from apertus_compliance.serve.engine import Engine
    except ImportError as error:  # not a message conversion: says what to install
        raise click.ClickException(
            f"serving needs the serve extra: pip install 'apertus-compliance[serve]' ({error})"
        ) from error
    engine = Engine.load(
        model,
        device=device,
        dtype=dtype,
        threads=threads,
        name=served_model_name or model,
        max_batch_size=max_batch_size,
        seed=seed,
    )
    _run(build_app(engine, output_filter, max_request_bytes=max_request_bytes), host, port, log_level)


@click.command("proxy")
@click.option(
    "--upstream",
    required=True,
    metavar="URL",
    help="The upstream's base URL as an OpenAI client takes it, e.g. http://127.0.0.1:8001/v1.",
)
@click.option(
    "--timeout",
    default=600.0,
    show_default=True,
    type=float,
    help="Seconds to wait for the upstream (connect, and between chunks).",
)
@filter_options
def proxy_command(
    upstream: str, timeout: float, max_request_bytes: int, host: str, port: int, log_level: str, **list_settings
) -> None:
    """Put the deletion-list filter in front of any OpenAI-compatible server (vLLM, ...)."""
    from apertus_compliance.serve.proxy import build_proxy

    output_filter = _output_filter(**list_settings)
    _run(
        build_proxy(upstream, output_filter, timeout=timeout, max_request_bytes=max_request_bytes),
        host,
        port,
        log_level,
    )
