"""Dataset card, Model Documentation Form data section and copyright policy of the bundled sample
run: the front matter parses with the hub's keys, the card has the hub template's sections, every
figure equals the lock's, the policy names the agent tokens of the snapshot and the contact."""

import json
import re
import shutil

import pytest
import yaml

from apertus_compliance.manifests.card import card_data, dataset_card, hub_licences, size_category, write_card
from apertus_compliance.manifests.facts import run_facts
from apertus_compliance.manifests.inventory import inventory_from_provider
from apertus_compliance.manifests.model_doc import (
    CopyrightPolicy,
    ModelDocumentationData,
    copyright_policy,
    model_documentation,
    to_markdown,
)
from apertus_compliance.manifests.provider import Crawling
from apertus_compliance.manifests.run import Run
from apertus_compliance.pipeline import RunLock

HUB_TEMPLATE_SECTIONS = (
    "# Dataset Card for ",
    "## Dataset Details",
    "### Dataset Description",
    "- **Curated by:**",
    "- **Language(s) (NLP):**",
    "- **License:**",
    "### Dataset Sources",
    "## Uses",
    "### Direct Use",
    "### Out-of-Scope Use",
    "## Dataset Structure",
    "## Dataset Creation",
    "### Curation Rationale",
    "### Source Data",
    "#### Data Collection and Processing",
    "#### Who are the source data producers?",
    "### Annotations",
    "#### Annotation process",
    "#### Who are the annotators?",
    "#### Personal and Sensitive Information",
    "## Bias, Risks, and Limitations",
    "### Recommendations",
    "## Citation",
    "## More Information",
    "## Dataset Card Contact",
)
"""Headings of huggingface_hub's datasetcard_template.md, in order ("[optional]" dropped)."""


@pytest.fixture(scope="session")
def card(sample_run, publisher) -> str:
    return dataset_card(sample_run, publisher)


def front_matter(card: str) -> dict:
    match = re.match(r"---\n(.*?)\n---\n", card, re.S)
    assert match, "no front matter"
    return yaml.safe_load(match.group(1))


def table_after(text: str, heading: str) -> list[list[str]]:
    """Rows (cells stripped, header and rule dropped) of the first table after the line ``heading``."""
    lines = text[text.index("\n" + heading + "\n") :].splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def number(cell: str) -> int:
    return int(cell.replace(",", ""))


def removed_cell(cell: str) -> dict[str, int]:
    return (
        {}
        if cell == "none"
        else {reason: number(count) for reason, count in (part.rsplit(" ", 1) for part in cell.split(", "))}
    )


def copy_run(sample_dir, target):
    shutil.copytree(sample_dir, target)
    return target


def test_front_matter_parses_with_hub_fields(card, sample_run):
    meta = front_matter(card)
    facts = run_facts(sample_run)
    assert meta["license"] == hub_licences(facts) == ["cc-by-4.0", "odc-by", "other", "cc-by-sa-4.0"]
    # two sources have licences the hub does not list: the hub asks for a name and a link
    assert meta["license_name"] == "per-source-licences" and meta["license_link"] == "README.md"
    assert {"en", "de", "fr", "it", "es", "pt", "nl", "pl", "ru", "rm", "code"} == set(meta["language"])
    assert meta["task_categories"] == ["text-generation"] and meta["multilinguality"] == "multilingual"
    assert meta["size_categories"] == [size_category(facts.documents_kept)] == ["1K<n<10K"]
    assert meta["source_datasets"] == ["extended|other"]  # the bundled samples are not hub datasets
    assert meta["pretty_name"]
    configs = {config["config_name"]: config for config in meta["configs"]}
    assert set(configs) == {"default", *sample_run.sources}
    for source_id in sample_run.sources:
        (files,) = configs[source_id]["data_files"]
        shards = {path.relative_to(sample_run.dir).as_posix() for path in sample_run.dir.glob(files["path"])}
        assert shards == {shard.path for shard in sample_run.lock.outputs if shard.source_id == source_id}


def test_hub_ids_and_a_single_unlisted_licence(sample_run, publisher):
    data = json.loads((sample_run.dir / "rebuild.lock.json").read_text())
    for entry in data["sources"].values():
        entry["license"] = "public domain (European Parliament)"
    data["sources"]["fineweb2-hq"]["dataset"] = "epfml/FineWeb2-HQ"
    meta = card_data(Run(sample_run.dir, RunLock.from_dict(data)), publisher).front_matter
    assert meta["license"] == "other" and meta["license_name"] == "public-domain-european-parliament"
    assert "extended|epfml/FineWeb2-HQ" in meta["source_datasets"]


@pytest.mark.parametrize(
    ("documents", "band"),
    [
        (0, "n<1K"),
        (999, "n<1K"),
        (1_000, "1K<n<10K"),
        (9_999, "1K<n<10K"),
        (10_000, "10K<n<100K"),
        (2_500_000, "1M<n<10M"),
        (999_999_999_999, "100B<n<1T"),
        (10**12, "n>1T"),
    ],
)
def test_size_category(documents, band):
    assert size_category(documents) == band


def test_card_has_the_hub_templates_sections_in_order(card):
    positions = [card.index(heading) for heading in HUB_TEMPLATE_SECTIONS]
    assert positions == sorted(positions)
    assert "[More Information Needed]" not in card


def test_card_tables_equal_the_lock(card, sample_run):
    rows = {row[0]: row for row in table_after(card, "##### Sources")}
    assert set(rows) == set(sample_run.sources)
    for source_id, entry in sample_run.sources.items():
        _, dataset, content_type, licence, read, kept, removed, tokens_kept, target = rows[source_id]
        assert (dataset, content_type, licence) == (entry.dataset, entry.content_type, entry.license)
        assert (number(read), number(kept)) == (entry.documents.read, entry.documents.kept)
        assert removed_cell(removed) == entry.documents.removed
        assert (number(tokens_kept), number(target)) == (entry.tokens.kept, entry.tokens.target)
    shards = {row[0].strip("`"): row for row in table_after(card, "Mixture shards:")}
    assert {path: row[3].strip("`") for path, row in shards.items()} == {
        shard.path: shard.sha256 for shard in sample_run.lock.outputs
    }
    assert all(number(shards[shard.path][1]) == shard.documents for shard in sample_run.lock.outputs)
    lock_rows = {row[0]: row for row in table_after(card, "### Lock")}
    assert lock_rows["recipe"][2].strip("`") == sample_run.lock.recipe.sha256
    assert lock_rows["opt-out snapshot"][2].strip("`") == sample_run.lock.optout.snapshot_id


def test_card_opt_out_and_pii_sections(card, sample_run, publisher):
    optout = {row[0]: row for row in table_after(card, "##### Opt-outs honoured")}
    for signal, row in optout.items():
        removed = sum(entry.documents.removed.get(signal, 0) for entry in sample_run.sources.values())
        assert number(row[3]) == removed, signal
    assert number(optout["robots"][3]) > 0 and "RFC 9309" in optout["robots"][1]
    assert "2025-01-31" in card and "retroactively" in card
    manifest = json.loads((sample_run.dir / "optout" / "snapshot" / "manifest.json").read_text())
    assert all(f"`{token}`" in card for token in manifest["agent_list"]["tokens"])
    pii = {row[0]: row for row in table_after(card, "#### Personal and Sensitive Information")}
    counts = {
        source: (email, ip, iban)
        for source, email, ip, iban in sample_run.query(
            "SELECT source, sum(pii_email), sum(pii_ip), sum(pii_iban) FROM mixture GROUP BY 1"
        )
    }
    for source_id, entry in sample_run.sources.items():
        assert pii[source_id][1] == ("yes" if entry.steps.pii else "no")
        assert tuple(number(cell) for cell in pii[source_id][2:]) == counts[source_id]
    assert "`<email-pii>`" in card  # placeholders are code, not HTML tags the hub would hide
    assert "apertus-compliance rebuild --recipe sample --out run" in card
    assert "apertus-compliance verify" in card and publisher.complaint_contact in card


def test_write_card_puts_readme_in_the_run(sample_run, publisher, tmp_path):
    path = write_card(sample_run, publisher, tmp_path / "README.md")
    assert path.read_text().startswith("---\n")


def test_model_documentation_numbers_equal_the_lock(sample_run, inventory):
    doc = model_documentation(inventory)
    assert isinstance(doc, ModelDocumentationData)
    sources = sample_run.sources
    assert doc.documents == sum(entry.documents.kept for entry in sources.values())
    assert doc.tokens == sum(entry.tokens.kept for entry in sources.values())
    natural = sum(language.tokens for language in doc.languages)
    code = sum(language.tokens for language in doc.programming_languages)
    assert natural + code + doc.unlabelled_tokens == doc.tokens
    assert sum(doc.content_types.values()) == doc.tokens
    assert {language.code for language in doc.programming_languages} == {"python", "javascript", "c", "rust", "go"}
    (run,) = doc.runs
    for figures in run.sources:
        entry = sources[figures.id]
        assert (figures.documents_read, figures.documents_kept, figures.tokens_kept, figures.tokens_target) == (
            entry.documents.read,
            entry.documents.kept,
            entry.tokens.kept,
            entry.tokens.target,
        )
        assert figures.documents_removed == entry.documents.removed
    provenance = {item.kind: item.used for item in doc.provenance}
    assert provenance == {
        "public": True,
        "commercially-licensed": False,
        "private-third-party": False,
        "crawled-by-provider": False,
        "synthetic-by-provider": False,
        "user-data": False,
        "other": False,
    }
    ((latest,),) = sample_run.query("SELECT max(left(date, 10)) FROM mixture")
    assert doc.modalities == ["text"] and doc.latest_document_date == latest == "2024-08-24"
    assert [model.name for model in doc.models] == [model.name for model in inventory.models]
    markdown = to_markdown(doc)
    curation = markdown.split("## Data curation methods", 1)[1].split("## Measures", 1)[0]
    assert "2025-01-31" in curation and "`<email-pii>`" in curation and "too-short" in curation
    assert "No bias, toxicity or quality classifier" in markdown.split("## Bias detection", 1)[1]
    assert f"{doc.documents:,} documents, {doc.tokens:,} tokens" in markdown
    assert json.loads(doc.model_dump_json())["tokens"] == doc.tokens


def test_two_runs_add_up(sample_dir, sample_run, provider, tmp_path):
    copy = copy_run(sample_dir, tmp_path / "copy")
    both = inventory_from_provider(provider, [sample_dir, copy])
    doc = model_documentation(both)
    single = model_documentation(inventory_from_provider(provider, [sample_dir]))
    assert (doc.documents, doc.tokens) == (2 * single.documents, 2 * single.tokens)
    assert [run.label for run in doc.runs] == ["apertus-sample (run)", "apertus-sample (copy)"]
    markdown = doc.to_markdown()
    assert "[apertus-sample (copy)] Opt-outs observed" in markdown


def test_copyright_policy_lists_agent_tokens_and_contact(sample_run, inventory):
    policy = copyright_policy(inventory)
    assert isinstance(policy, CopyrightPolicy)
    manifest = json.loads((sample_run.dir / "optout" / "snapshot" / "manifest.json").read_text())
    assert policy.agent_tokens == sorted(manifest["agent_list"]["tokens"])
    assert {"gptbot", "ccbot", "google-extended", "*"} <= set(policy.agent_tokens)
    assert policy.complaint_contact == inventory.provider.complaint_contact == "copyright@example.org"
    assert policy.as_of == ["2025-01-31"] and policy.crawling is None and not policy.strict
    by_signal = {item.signal: item for item in policy.protocols}
    assert {"robots", "tdmrep", "aipref", "content-signal", "noai", "rightsholder"} == set(by_signal)
    reserving = manifest["counts"]["reserving_hosts_by_signal"]
    for signal, item in by_signal.items():
        assert item.documents_removed == sum(
            entry.documents.removed.get(signal, 0) for entry in sample_run.sources.values()
        )
        assert item.reserving_hosts == reserving.get(signal, 0)
    (snapshot,) = policy.snapshots
    assert snapshot.sources_not_filtered == ["starcoder"] and snapshot.snapshot.agent_list_version == "2025-01"
    markdown = policy.to_markdown()
    assert "copyright@example.org" in markdown and "`gptbot`" in markdown and "RFC 9309" in markdown
    assert "Retroactive" in markdown and "no crawler of its own" in markdown
    assert inventory.declarations.tdm_measures in markdown


def test_copyright_policy_of_a_crawling_provider(sample_dir, provider):
    crawling = Crawling(
        crawlers=["ExampleBot/1.0"],
        purposes="training data",
        behaviour="robots.txt per RFC 9309",
        period_start="01/2025",
        period_end="03/2025",
    )
    crawler = inventory_from_provider(provider.model_copy(update={"crawling": crawling}), [sample_dir])
    policy = copyright_policy(crawler)
    assert policy.crawling.crawlers == ["ExampleBot/1.0"]
    assert "Crawlers: ExampleBot/1.0 (2025-01 to 2025-03)" in policy.to_markdown()
    doc = model_documentation(crawler)
    assert "ExampleBot/1.0" in doc.to_markdown()


def test_without_the_snapshot_manifest_counts_are_unknown_not_zero(sample_dir, provider, tmp_path):
    copy = copy_run(sample_dir, tmp_path / "moved")
    shutil.rmtree(copy / "optout")
    policy = copyright_policy(inventory_from_provider(provider, [copy]))
    assert policy.agent_tokens and all(item.reserving_hosts is None for item in policy.protocols)
    assert "| n/a |" in policy.to_markdown()


def test_a_run_without_opt_outs_or_masking_says_so(sample_run, inventory, publisher):
    from apertus_compliance.manifests.croissant import croissant_metadata

    data = json.loads((sample_run.dir / "rebuild.lock.json").read_text())
    data["optout"] = None
    for entry in data["sources"].values():
        entry["steps"]["optout"] = entry["steps"]["pii"] = False
    bare = Run(sample_run.dir, RunLock.from_dict(data))
    runs = {sample_run.dir: bare}
    card = dataset_card(bare, publisher)
    assert "No opt-out filtering" in card and "| no |" in card and "##### Opt-outs honoured" in card
    policy = copyright_policy(inventory, runs)
    assert policy.protocols == [] and policy.as_of == [] and policy.snapshots == []
    assert "No opt-out snapshot was applied" in policy.to_markdown()
    curation = model_documentation(inventory, runs).to_markdown().split("## Data curation methods", 1)[1]
    assert "No opt-out filtering" in curation and "No PII masking" in curation
    metadata = croissant_metadata(bare, publisher)
    assert "No opt-out filtering" in " ".join(metadata["rai:dataPreprocessingProtocol"])
    assert "No opt-out filtering was applied." in metadata["rai:dataLimitations"]
    assert "No PII masking" in " ".join(metadata["rai:personalSensitiveInformation"])
    assert not any("Opt-out filtering ran" in item for item in metadata["rai:dataBiases"])


INVENTORY = """
summary: {version: "2", last_update: 2026-11-15}
provider:
  name: Example Lab
  contact: lab@example.org
  authorised_representative: N/A
  complaint_contact: rights@example.org
  code_of_practice_signatory: false
  sme: false
models:
  - {name: example-8b, version: "1", placed_on_market: 2026-11-01}
  - {name: example-8b-instruct, version: "1", placed_on_market: 2026-11-01, dependencies: [example-8b]}
stages:
  - id: pretraining
    name: Pre-training
    phase: pre-training
    models: [example-8b]
    sources:
      - run: {run}
    measures:
      - {name: Toxicity classifier, description: Documents above a toxicity score were removed., targets: [harmful-content]}
  - id: sft
    name: Supervised fine-tuning
    phase: post-training
    sources:
      - name: Example Instructions
        kind: synthetic-by-provider
        link: https://example.org/instructions
        version: v1.2
        licence: CC-BY-4.0
        size: {amount: 2000000, unit: tokens}
        generating_models: [{name: example-70b, on_market: false}]
    measures:
      - {name: CSAM filter, description: Hash matching against known material., targets: [illegal-content]}
declarations:
  tdm_measures: We honour robots.txt and TDMRep before training, as computed below.
"""


def test_documents_of_an_inventory(sample_dir, tmp_path):
    from apertus_compliance.manifests.documents import write_documents

    run_dir = copy_run(sample_dir, tmp_path / "run")
    inventory_file = tmp_path / "inventory.yaml"
    inventory_file.write_text(INVENTORY.replace("{run}", "run"))  # relative to the inventory file
    written = write_documents([], None, tmp_path / "docs", ("model-doc", "card"), inventory_file=inventory_file)
    assert {path.name for path in written} == {
        "model-documentation-data.json",
        "model-documentation-data.md",
        "copyright-policy.json",
        "copyright-policy.md",
        "README.md",
    }
    doc = json.loads((tmp_path / "docs" / "model-documentation-data.json").read_text())
    assert [model["name"] for model in doc["models"]] == ["example-8b", "example-8b-instruct"]
    provenance = {item["kind"]: item["sources"] for item in doc["provenance"] if item["used"]}
    assert provenance == {
        "public": [f"apertus-sample/{source_id}" for source_id in Run.open(run_dir).sources],
        "synthetic-by-provider": ["Example Instructions"],
    }
    pretraining, sft = doc["stages"]
    assert pretraining["runs"] == ["apertus-sample"] and pretraining["models"] == ["example-8b"]
    assert sft["datasets"][0]["version"] == "v1.2" and sft["models"] == ["example-8b", "example-8b-instruct"]
    markdown = (tmp_path / "docs" / "model-documentation-data.md").read_text()
    assert "| [Example Instructions](https://example.org/instructions) | synthetic data generated by the provider" in (
        markdown
    )
    assert "Measure: Toxicity classifier (harmful-content)" in markdown and "built on example-8b" in markdown
    policy = (tmp_path / "docs" / "copyright-policy.md").read_text()
    assert "Code of Practice signatory: no" in policy and "rights@example.org" in policy
    assert "We honour robots.txt and TDMRep" in policy and "CSAM filter: Hash matching" in policy
    assert "Toxicity classifier" not in policy  # 3.2-style: only illegal-content measures
    card = (run_dir / "README.md").read_text()
    assert "Example Lab (lab@example.org)" in card and "Copyright complaints: rights@example.org" in card


def test_an_inventory_and_runs_or_neither_are_refused(sample_dir, tmp_path):
    from apertus_compliance.manifests.documents import documents_inventory, sample_provider
    from apertus_compliance.manifests.inventory import InventoryError

    inventory_file = tmp_path / "inventory.yaml"
    inventory_file.write_text(INVENTORY.replace("{run}", str(sample_dir)))
    with pytest.raises(InventoryError, match="names its own runs"):
        documents_inventory([sample_dir], inventory_file=inventory_file)
    with pytest.raises(InventoryError, match="not both and not neither"):
        documents_inventory([sample_dir], sample_provider(), inventory_file)


def test_the_bundled_apertus_inventory_without_runs():
    from apertus_compliance.manifests.inventory import bundled_inventory, load_inventory

    apertus = load_inventory(bundled_inventory("apertus"))
    doc = model_documentation(apertus)
    assert [model.name for model in doc.models] == [model.name for model in apertus.models]
    assert doc.runs == [] and doc.tokens == 0  # every source is declared: no figures are computed
    declared = {dataset.name for stage in doc.stages for dataset in stage.datasets}
    (public,) = [item for item in doc.provenance if item.kind == "public"]
    assert set(public.sources) == declared and "EuroBlocks-SFT-Synthetic-1124" in declared
    markdown = doc.to_markdown()
    sizes = [stage.size for stage in apertus.stages if stage.size]
    assert sizes and all(f"{int(size.amount):,} {size.unit}" in markdown for size in sizes)
    assert "## Number of data points" not in markdown  # no rebuild run, no computed section
    policy = copyright_policy(apertus)
    assert policy.code_of_practice_signatory == apertus.provider.code_of_practice_signatory
    assert policy.protocols == [] and apertus.declarations.tdm_measures in policy.to_markdown()
    assert "No rebuild run is documented here" in policy.to_markdown()


def test_a_repeated_source_is_counted_with_its_repetitions(sample_run, inventory, publisher):
    from apertus_compliance.manifests.croissant import croissant_metadata

    data = sample_run.lock.to_dict()
    data["sources"]["starcoder"]["epochs"] = 2
    twice = Run(sample_run.dir, RunLock.from_dict(data))
    starcoder = sample_run.sources["starcoder"].tokens.kept
    doc = model_documentation(inventory, {sample_run.dir: twice})
    assert doc.tokens_with_repetition == doc.tokens + starcoder
    sentence = f"Repeated in training: starcoder 2 times ({starcoder:,} tokens kept, {2 * starcoder:,} with repetition)"
    assert sentence in doc.to_markdown() and sentence in dataset_card(twice, publisher)
    assert any(sentence in item for item in croissant_metadata(twice, publisher)["rai:dataPreprocessingProtocol"])
    for entry in data["sources"].values():
        entry["epochs"] = 1
    assert "Repeated in training" not in dataset_card(Run(sample_run.dir, RunLock.from_dict(data)), publisher)


def test_the_tokenizer_and_the_html_extractor_are_named(sample_run, inventory, publisher):
    from apertus_compliance.manifests.croissant import croissant_metadata

    data = sample_run.lock.to_dict()
    data["tokenizer"] = {"name": "apertus", "kind": "apertus", "sha256": "5e" * 32, "version": "Apertus v1"}
    data["sources"]["fineweb2-hq"]["extractor"] = {"name": "resiliparse", "version": "0.15.1", "main_content": True}
    warc = Run(sample_run.dir, RunLock.from_dict(data))
    tokenizer = "Tokens are counted with the tokenizer apertus (Apertus v1, sha256 5e5e5e5e5e5e), without BOS/EOS."
    extraction = "Main text extracted from HTML pages with resiliparse 0.15.1 (fineweb2-hq)"
    card = dataset_card(warc, publisher)
    doc = model_documentation(inventory, {sample_run.dir: warc}).to_markdown()
    croissant = croissant_metadata(warc, publisher)
    for text in (card, doc, croissant["description"] + " ".join(croissant["rai:dataPreprocessingProtocol"])):
        assert tokenizer in text
    for text in (card, doc, " ".join(croissant["rai:dataPreprocessingProtocol"])):
        assert extraction in text
    assert "Main text extracted" not in dataset_card(sample_run, publisher)
