"""Choices and defaults of the opt-out settings, light to import (no DuckDB, no pydantic): the
CLI builds its options from them."""

from __future__ import annotations

from apertus_compliance.paths import bundled_data

__all__ = ["DEFAULT_AGENT_LIST", "GRANULARITIES", "bundled_agent_lists"]

DEFAULT_AGENT_LIST = "apertus-2025-01"
GRANULARITIES = ("url", "domain")
"""How far a reservation reaches: ``url`` per path, ``domain`` the host's whole registered domain."""


def bundled_agent_lists() -> list[str]:
    """Names of the agent lists shipped with the package."""
    return sorted(p.stem for p in (bundled_data() / "agents").glob("*.json"))
