"""The output PII filter: signed, hashed deletion-list releases and redaction of whole or
streamed text (see the README for the release format).

``DeletionList.load(DIR, public_key=KEY)`` verifies and loads a release; ``Redactor(list)``
redacts with ``.redact(text)`` or ``.stream()``.
"""

from apertus_compliance.lazy import lazy_exports

# Public name -> the submodule that defines it, imported on first use. ``serve`` and ``pipeline``
# import only these names.
__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "CATEGORIES": "deletion_list",
        "DEFAULT_MAX_PAYLOAD_BYTES": "settings",
        "DEFAULT_PLACEHOLDER": "settings",
        "DEFAULT_TOTAL_TIMEOUT": "settings",
        "MAX_BODY_BYTES": "middleware",
        "MAX_REQUEST_BYTES": "middleware",
        "PATTERN_CLASSES": "settings",
        "DeletionList": "deletion_list",
        "DeletionListMiddleware": "middleware",
        "InvalidPath": "middleware",
        "ListUnavailable": "refresh",
        "RedactionMetrics": "middleware",
        "RedactionStream": "redactor",
        "Redactor": "redactor",
        "RefreshSettingError": "refresh",
        "RefreshingDeletionList": "refresh",
        "ReleaseError": "deletion_list",
        "RequestBodyLimit": "middleware",
        "Span": "redactor",
        "Unfilterable": "middleware",
        "build_release": "deletion_list",
        "diff_releases": "deletion_list",
        "error_object": "middleware",
        "generate_keypair": "deletion_list",
        "path_kind": "middleware",
        "scope_path": "middleware",
        "verify_release": "deletion_list",
        "warm_up": "redactor",
    },
)
