"""The provider file of the ``--run/--provider`` form: who places the model on the market, how to
reach them, what they crawled themselves. The documents read it as a one-stage training inventory
(:func:`.inventory.inventory_from_provider`); an inventory (:mod:`.inventory`) describes every
stage and dataset, and is the form to use for a model trained on more than rebuild runs."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from apertus_compliance.errors import ApertusError


class ProviderError(ApertusError, ValueError):
    """A provider file that cannot be used; the message lists every missing or wrong field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelVersion(_Strict):
    name: str
    version: str


class Crawling(_Strict):
    """Section 2.3, only when the provider crawled or scraped the web itself."""

    crawlers: list[str]
    purposes: str
    behaviour: str
    """How the crawler behaves: robots.txt per RFC 9309, other protocols, rate limits."""
    period_start: str
    period_end: str
    """Collection period, MM/YYYY."""


class Provider(_Strict):
    provider: str
    contact: str
    authorised_representative: str
    """Name and contact of the EU representative, or why none is needed (a provider in the EU)."""
    models: list[ModelVersion] = Field(min_length=1)
    dependencies: list[str]
    """Models this one builds on (fine-tuning, distillation); empty for a model trained from scratch."""
    placed_on_market: date
    code_of_practice_signatory: bool
    sme: bool
    illegal_content_measures: str
    complaint_contact: str
    """Where rights holders send complaints (Code of Practice, copyright chapter)."""
    crawling: Crawling | None = None
    user_data: bool = False
    synthetic_data: str | None = None
    """How synthetic data was generated, and with which models; None when none was used."""
    other_information: str = ""


def load_provider(path: str | Path) -> Provider:
    """Read and validate a provider file; every missing field is named at once."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ProviderError(f"provider file {path}: cannot read it ({error})") from error
    if not isinstance(data, dict):
        raise ProviderError(f"provider file {path}: expected a mapping of fields")
    try:
        return Provider.model_validate(data)
    except ValidationError as error:
        missing = [".".join(map(str, problem["loc"])) for problem in error.errors() if problem["type"] == "missing"]
        other = [
            f"{'.'.join(map(str, problem['loc']))}: {problem['msg']}"
            for problem in error.errors()
            if problem["type"] != "missing"
        ]
        parts = ([f"missing: {', '.join(missing)}"] if missing else []) + other
        raise ProviderError(f"provider file {path}: " + "; ".join(parts)) from error
