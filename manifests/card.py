"""A Hugging Face dataset card (``README.md`` with YAML front matter) for a run's mixture.

:class:`DatasetCard` is the schema, :func:`card_data` the builder (fields only, from
:mod:`.facts`), ``templates/card.md.j2`` the text, in the sections of the Hugging Face
dataset-card template. The front matter is what the hub reads: licences (hub ids; ``other`` for
a licence the hub does not list, then ``license_name`` and ``license_link`` as the hub asks),
language tags (ISO 639-1 where one exists, plus ``code`` when code sources are present), the
size band of the kept documents, ``source_datasets``, and one config per source over
``mixture/<source>/*.parquet`` next to a ``default`` config over all shards. The reproduce
steps name a bundled recipe by name, so they work from an installed package.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, computed_field

from apertus_compliance.manifests.croissant import COLUMNS, bias_statements, licence_ids
from apertus_compliance.manifests.facts import RunFacts, run_facts
from apertus_compliance.manifests.inventory import ProviderDetails
from apertus_compliance.manifests.render import render
from apertus_compliance.manifests.run import Run
from apertus_compliance.pipeline import InputFile, Shard

__all__ = ["DatasetCard", "card_data", "dataset_card", "hub_licences", "size_category", "write_card"]

SIZE_BANDS = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
    (10_000_000_000, "1B<n<10B"),
    (100_000_000_000, "10B<n<100B"),
    (1_000_000_000_000, "100B<n<1T"),
)
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
"""A Hugging Face dataset id (``HuggingFaceFW/fineweb-2``)."""


def size_category(documents: int) -> str:
    """The hub's ``size_categories`` band for a number of documents."""
    for limit, band in SIZE_BANDS:
        if documents < limit:
            return band
    return "n>1T"


def hub_licences(facts: RunFacts) -> list[str]:
    """Hub licence ids of the sources, in source order, ``other`` for unknown or missing ones."""
    found = []
    for source in facts.sources:
        ids = licence_ids(source.license)
        found.append(ids[1] if ids else "other")
    return list(dict.fromkeys(found))


def _slug(text: str) -> str:
    return "-".join(re.findall(r"[a-z0-9.]+", text.lower())) or "other"


def front_matter(facts: RunFacts, pretty_name: str) -> dict:
    """The card's YAML metadata, as the hub's dataset-card specification names its keys."""
    licences = hub_licences(facts)
    languages = [language.tag for language in facts.languages()]
    languages += ["code"] if facts.programming_languages() else []
    meta: dict = {
        "pretty_name": pretty_name,
        "license": licences[0] if len(licences) == 1 else licences,
    }
    if "other" in licences:
        others = list(
            dict.fromkeys(source.license or "not stated" for source in facts.sources if not licence_ids(source.license))
        )
        meta["license_name"] = _slug(others[0]) if len(others) == 1 else "per-source-licences"
        meta["license_link"] = "README.md"  # the card's source table names each source's licence
    datasets = [source.dataset or source.id for source in facts.sources]
    meta |= {
        "language": languages,
        "multilinguality": "multilingual" if len(facts.languages()) > 1 else "monolingual",
        "task_categories": ["text-generation"],
        "task_ids": ["language-modeling"],
        "size_categories": [size_category(facts.documents_kept)],
        "source_datasets": [f"extended|{name}" if HUB_ID.match(name) else "extended|other" for name in datasets],
        "configs": [
            {
                "config_name": "default",
                "default": True,
                "data_files": [{"split": "train", "path": "mixture/*/*.parquet"}],
            }
        ]
        + [
            {"config_name": source.id, "data_files": [{"split": "train", "path": f"mixture/{source.id}/*.parquet"}]}
            for source in facts.sources
        ],
        "tags": ["pretraining", "opt-out-filtered", "croissant"],
    }
    meta["source_datasets"] = list(dict.fromkeys(meta["source_datasets"]))
    return meta


class DatasetCard(BaseModel):
    """Everything the card says, computed; ``templates/card.md.j2`` writes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pretty_name: str
    front_matter: dict
    run: RunFacts
    provider: ProviderDetails
    url: str | None
    recipe_text_in_lock: bool
    columns: dict[str, tuple[str, str]]
    shards: list[Shard]
    inputs: list[tuple[str, InputFile]]
    biases: list[str]

    @computed_field
    @property
    def front_matter_yaml(self) -> str:
        return yaml.safe_dump(self.front_matter, sort_keys=False, allow_unicode=True).rstrip()

    def to_markdown(self) -> str:
        return render("card.md.j2", card=self)


def card_data(
    run: Run, provider: ProviderDetails, pretty_name: str | None = None, url: str | None = None
) -> DatasetCard:
    """The card of ``run``'s mixture, published by ``provider`` (an inventory's provider)."""
    facts = run_facts(run)
    name = pretty_name or f"{facts.recipe} training mixture"
    return DatasetCard(
        pretty_name=name,
        front_matter=front_matter(facts, name),
        run=facts,
        provider=provider,
        url=url,
        recipe_text_in_lock=run.lock.recipe.text is not None,
        columns=COLUMNS,
        shards=list(run.lock.outputs),
        inputs=[(source_id, item) for source_id, entry in run.lock.sources.items() for item in entry.inputs],
        biases=bias_statements(facts),
    )


def dataset_card(run: Run, provider: ProviderDetails, pretty_name: str | None = None, url: str | None = None) -> str:
    """The README.md of the mixture, as a string."""
    return card_data(run, provider, pretty_name, url).to_markdown()


def write_card(
    run: Run, provider: ProviderDetails, out_path: str | Path | None = None, pretty_name: str | None = None
) -> Path:
    """Write the card (default ``<run>/README.md``)."""
    out_path = Path(out_path) if out_path is not None else run.dir / "README.md"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(dataset_card(run, provider, pretty_name), encoding="utf-8")
    return out_path
