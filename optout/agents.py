"""Versioned lists of AI-training user agents whose robots.txt groups count as reservations.

A list is JSON (``{"name", "version", "source", "description", "agents": [{"name", ...}]}``)
bundled in ``data/agents/`` or given as a path. Agents are reduced to their product token
(``CCBot/2.0`` and ``CCBot/1.0`` both are ``ccbot``, ``Kangaroo Bot`` is ``kangaroo``) by
:func:`.robots.product_token`, the one function that also reads user-agent lines, because a
robots.txt group can only name a product token. ``*`` stays in a list to say "a disallow for all
bots counts too", as Apertus counted it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from apertus_compliance.errors import ApertusError
from apertus_compliance.optout.robots import product_token
from apertus_compliance.optout.settings import DEFAULT_AGENT_LIST, bundled_agent_lists
from apertus_compliance.paths import bundled_data


class AgentListError(ApertusError, ValueError):
    """An agent list that is neither a bundled name nor a usable file; the message names it."""


class Agent(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    name: str
    operator: str = ""
    function: str = ""


class AgentList(BaseModel):
    """A named, versioned agent list; ``sha256`` pins its exact content in snapshot manifests."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    version: str
    source: str = ""
    description: str = ""
    agents: tuple[Agent, ...]
    sha256: str = ""

    @property
    def tokens(self) -> tuple[str, ...]:
        """Sorted, de-duplicated lower-case product tokens (``*`` kept)."""
        return tuple(sorted({token for agent in self.agents if (token := product_token(agent.name))}))

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"


def load_agent_list(name_or_path: str | Path = DEFAULT_AGENT_LIST) -> AgentList:
    """Load a bundled list by name, or a user-supplied JSON file (or a text file, one agent a line)."""
    path = Path(name_or_path)
    if not path.exists():
        path = bundled_data() / "agents" / f"{name_or_path}.json"
        if not path.exists():
            raise AgentListError(
                f"agent list {str(name_or_path)!r}: neither a file nor a bundled list "
                f"(bundled: {', '.join(bundled_agent_lists())})"
            )
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if path.suffix != ".json":
        names = [line.split("#", 1)[0].strip() for line in raw.decode("utf-8").splitlines()]
        agents = tuple(Agent(name=n) for n in names if n)
        return AgentList(name=path.stem, version=digest[:12], source=str(path), agents=agents, sha256=digest)
    try:
        data = json.loads(raw)
        agent_list = AgentList.model_validate({**data, "sha256": digest})
    except (json.JSONDecodeError, ValidationError) as error:
        raise AgentListError(f"agent list {path}: {error}") from error
    if not agent_list.tokens:
        raise AgentListError(f"agent list {path}: no usable agent names")
    return agent_list
