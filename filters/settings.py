"""Choices and defaults of the filter's settings, light to import (no numpy, no presidio): the
``deletion-list``, ``redact``, ``serve`` and ``proxy`` commands build their options from them."""

__all__ = ["DEFAULT_MAX_PAYLOAD_BYTES", "DEFAULT_PLACEHOLDER", "DEFAULT_TOTAL_TIMEOUT", "PATTERN_CLASSES"]

DEFAULT_PLACEHOLDER = "[REDACTED]"
PATTERN_CLASSES = ("email", "phone", "iban", "ip", "credit_card")
"""Pattern classes (presidio recognizers) a deployer can redact always, list or not."""
DEFAULT_MAX_PAYLOAD_BYTES = 1 << 30
"""1 GiB: 10M entries take about 90 MB; a deployer with a larger list raises it (``max_payload_bytes``)."""
DEFAULT_TOTAL_TIMEOUT = 300.0
"""Seconds one fetch (manifest and payload) may take in all, however the server paces its bytes."""
