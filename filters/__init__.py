"""The output PII filter: signed, hashed deletion-list releases and redaction of whole or
streamed text (see the README for the release format).

``DeletionList.load(DIR, public_key=KEY)`` verifies and loads a release; ``Redactor(list)``
redacts with ``.redact(text)`` or ``.stream()``.
"""

from apertus_compliance.filters.deletion_list import (
    CATEGORIES,
    DeletionList,
    ReleaseError,
    build_release,
    diff_releases,
    generate_keypair,
    verify_release,
)
from apertus_compliance.filters.redactor import (
    DEFAULT_PLACEHOLDER,
    PATTERN_CLASSES,
    RedactionStream,
    Redactor,
    Span,
    warm_up,
)

__all__ = [
    "CATEGORIES",
    "DEFAULT_PLACEHOLDER",
    "PATTERN_CLASSES",
    "DeletionList",
    "RedactionStream",
    "Redactor",
    "ReleaseError",
    "Span",
    "build_release",
    "diff_releases",
    "generate_keypair",
    "verify_release",
    "warm_up",
]
