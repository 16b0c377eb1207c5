"""Hosts and their registered domains, offline: tldextract with the public-suffix list it bundles.

Light to import (tldextract loads on first use): ``filters`` checks email domains with it.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tldextract

__all__ = ["domain_extractor", "registered_domain"]


@cache
def domain_extractor() -> tldextract.TLDExtract:
    """tldextract on its bundled public-suffix list; never fetched (no network)."""
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def registered_domain(host: str) -> str:
    """``blog.example.co.uk`` -> ``example.co.uk``; a host with no known suffix stays itself."""
    parts = domain_extractor()(host)
    return f"{parts.domain}.{parts.suffix}" if parts.domain and parts.suffix else host
