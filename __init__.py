"""apertus-compliance: make an open LLM's data practices real and checkable.

Areas (each a sub-package): ``optout`` (reservation registry and snapshots), ``pipeline``
(reproducible rebuilds), ``filters`` (output PII filter), ``serve`` (OpenAI-compatible
serving), ``manifests`` (EU AI Act documents).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("apertus-compliance")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
