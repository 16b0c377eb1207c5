"""The EU Public Summary of Training Content: every answer derived from the inventory (each Yes/No
question has a working Yes path), figures equal to a run's lock, the template's labels word for
word in Markdown, HTML and the PDF's text layer, and refusals of inputs that cannot be summarised."""

import copy
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from apertus_compliance.manifests.eu_summary import (
    FILES,
    PDF_FILE,
    PublicSummary,
    build_summary,
    summarise,
    summary_json_schema,
    to_html,
    to_json,
    to_markdown,
)
from apertus_compliance.manifests.inventory import InventoryError, bundled_inventory, validate_inventory
from apertus_compliance.manifests.provider import load_provider
from apertus_compliance.manifests.run import Run
from apertus_compliance.optout import SIGNALS
from apertus_compliance.paths import bundled_data

HEADINGS = [
    "## 1. General information",
    "### 1.1 Provider identification",
    "### 1.2 Model identification",
    "### 1.3 Modalities, overall training data size and other characteristics",
    "## 2. List of data sources",
    "### 2.1 Publicly available datasets",
    "### 2.2 Private non-publicly available datasets obtained from third parties",
    "#### 2.2.1 Datasets commercially licensed by rightsholders or their representatives",
    "#### 2.2.2 Private datasets obtained from other third parties",
    "### 2.3 Data crawled and scraped from online sources",
    "### 2.4 User data",
    "### 2.5 Synthetic data",
    "### 2.6 Other sources of data",
    "## 3. Data processing aspects",
    "### 3.1 Respect of reservation of rights from text and data mining exception or limitation",
    "### 3.2 Removal of illegal content",
    "### 3.3 Other information (optional)",
]
# The template's labels, word for word (shared/reference/eu-template-fields.md), including the
# conditional sub-fields that appear when the answer is Yes.
LABELS = [
    "Public Summary of Training Content for General-Purpose AI models",
    "Version of the Summary:",
    "Last update:",
    "Provider name and contact details:",
    "Authorised representative name and contact details:",
    "Versioned model name(s):",
    "Model dependencies:",
    "Date of placement of the model on the Union market:",
    "Training data size",
    "Types of content",
    "Less than 1 billion tokens",
    "1 billion to 10 trillion tokens",
    "More than 10 trillion tokens",
    "Alternatively, specify the approximate size in a different measurement unit",
    "Less than 1 million images",
    "1 million to 1 billion images",
    "More than 1 billion images",
    "Less than 10,000 hours",
    "10,000 to 1 million hours",
    "More than 1 million hours",
    "Specify the modality and for each one indicate approximate size and unit of measurement",
    "Latest date of data acquisition/collection for model training:",
    "Description of the linguistic characteristics of the overall training data:",
    "Other relevant characteristics of the overall training data:",
    "Additional comments (optional):",
    "Have you used publicly available datasets to train the model?",
    "If yes, specify the modality(ies) of the content covered by the datasets concerned:",
    "List of large publicly available datasets:",
    "General description of other publicly available datasets not listed above:",
    "Have you concluded transactional commercial licensing agreement(s) with rightsholder(s) or with their "
    "representatives?",
    "Have you obtained private datasets from third parties that are not licensed as described in Section 2.2.1, such "
    "as data obtained from providers of private databases, or data intermediaries?",
    "If publicly known, list private datasets obtained from other third parties:",
    "General description of non-publicly known private datasets obtained from third parties",
    "Were crawlers used by the provider or on behalf of?",
    "If yes, specify crawler name(s)/identifier(s):",
    "Purposes of the crawler(s):",
    "General description of crawler behaviour:",
    "Period of data collection:",
    "Comprehensive description of the type of content and online sources crawled:",
    "Type of modality covered:",
    "Summary of the most relevant domain names crawled:",
    "Was data from user interactions with the AI model (e.g. user input and prompts) used to train the model?",
    "Was data collected from user interactions with the provider's other services or products used to train the model?",
    "If yes, provide a general description of the provider's services or products that were used to collect the user "
    "data:",
    "Was synthetic AI-generated data created by the provider or on their behalf to train the model?",
    "If yes, modality of the synthetic data:",
    "If yes, specify the general-purpose AI model(s) used to generate the synthetic data if available on the market:",
    "Information about other AI models, including provider's own AI model(s) not available on the market, used to "
    "generate synthetic data to train the model to which this Summary applies:",
    "Have data sources other than those described in Sections 2.1 to 2.5 been used to train the model?",
    "If yes, provide a narrative description of these data sources and the data:",
    "Are you a Signatory to the Code of Practice for general-purpose AI models that includes commitments to respect "
    "reservations of rights from the TDM exception or limitation?",
    "Describe the measures implemented before model training to respect reservations of rights from the TDM exception "
    "or limitation before and during data collection, including the opt-out protocols and solutions honoured by the "
    "provider or, as applicable, by third parties from which datasets have been obtained:",
    "General description of measures taken:",
    "Other relevant information about data processing (optional):",
] + [heading.lstrip("# ") for heading in HEADINGS]
CONDITIONAL = [label for label in LABELS if label.startswith("If yes") or label.startswith("If publicly known")] + [
    "Purposes of the crawler(s):",
    "Summary of the most relevant domain names crawled:",
]
INTERNAL_WORDS = ["crawled-by-provider", "crawled_by_provider", "synthetic-by-provider", "user_data", "`", "None"]


def _inventory(**changes) -> dict:
    """A small declared inventory: one public text dataset, sized."""
    data = {
        "summary": {"version": "2.0", "last_update": "2026-03-01"},
        "provider": {
            "name": "Example Lab",
            "contact": "ai@example.org",
            "authorised_representative": "N/A",
            "complaint_contact": "copyright@example.org",
            "code_of_practice_signatory": False,
            "sme": False,
        },
        "models": [{"name": "Example-1B", "version": "1.0", "placed_on_market": "2026-02-01"}],
        "stages": [
            {
                "id": "pretraining",
                "name": "Pre-training",
                "phase": "pre-training",
                "sources": [
                    {
                        "name": "Open Web Text",
                        "kind": "public",
                        "link": "https://example.org/owt",
                        "version": "v3",
                        "size": {"amount": 2e9, "unit": "tokens"},
                        "collected": {"end": "2025-06"},
                    }
                ],
            }
        ],
        "declarations": {"tdm_measures": "robots.txt and TDMRep were honoured before collection."},
    }
    for path, value in changes.items():
        target = data
        *parents, last = path.split(".")
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        target[last] = value
    return data


def _summary(data: dict) -> PublicSummary:
    return summarise(validate_inventory(copy.deepcopy(data), "test.yaml"))


EVERYTHING = _inventory()
EVERYTHING["provider"] |= {
    "code_of_practice_signatory": True,
    "sme": True,
    "crawling": {
        "crawlers": ["ExampleBot/2.0"],
        "purposes": "Collect public web text for training.",
        "behaviour": "Follows robots.txt per RFC 9309, TDMRep and aipref; at most one request per second per host.",
        "period": {"start": "2025-01", "end": "2025-09"},
        "content": "News and encyclopedic pages in European languages.",
        "top_domains": ["example-news.eu", "wiki.example"],
    },
}
EVERYTHING["stages"][0]["sources"] += [
    {"name": "Licensed News Archive", "kind": "commercially-licensed", "modality": "text", "size": {"amount": 5e8, "unit": "tokens"}},
    {"name": "Stock Photos", "kind": "commercially-licensed", "modality": "image", "size": {"amount": 2e6, "unit": "images"}},
    {"name": "Broker Corpus", "kind": "private-third-party", "link": "https://broker.example/corpus", "size": {"amount": 1e8, "unit": "tokens"}},
    {"name": "Unnamed", "kind": "private-third-party", "publicly_known": False, "description": "Customer-support transcripts bought from a data intermediary.", "size": {"amount": 1e7, "unit": "tokens"}},
    {"name": "Our Crawl", "kind": "crawled-by-provider", "size": {"amount": 3e9, "unit": "tokens"}, "collected": {"end": "2025-09"}},
    {"name": "Chat logs", "kind": "user-data", "user_data_origin": "model-interactions", "size": {"amount": 1e6, "unit": "tokens"}},
    {"name": "Support tickets", "kind": "user-data", "user_data_origin": "other-services", "services": "Our help-desk product.", "size": {"amount": 1e6, "unit": "tokens"}},
    {
        "name": "Generated maths",
        "kind": "synthetic-by-provider",
        "size": {"amount": 2e7, "unit": "tokens"},
        "generating_models": [
            {"name": "Mistral-Large-2411", "on_market": True, "link": "https://example.org/mistral"},
            {"name": "Example-internal-70B", "on_market": False},
        ],
    },
    {"name": "Lab notebooks", "kind": "other", "description": "Handwritten notebooks of the lab, transcribed.", "size": {"amount": 1e5, "unit": "tokens"}},
]  # fmt: skip
EVERYTHING["stages"][0]["measures"] = [
    {"name": "CSAM hash matching", "description": "Images matched against known hashes.", "targets": ["illegal-content"]},
    {"name": "PII masking", "description": "Emails and IBANs masked.", "targets": ["personal-data"]},
    {"name": "Length filter", "description": "Documents under 50 characters dropped.", "targets": ["quality"]},
]  # fmt: skip
EVERYTHING["declarations"]["comments"] = {section: f"Comment on {section}." for section in ("1.3", "2.1", "2.2.1", "2.2.2", "2.3", "2.4", "2.5", "2.6", "3.1")}  # fmt: skip


# --------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def sample_provider():
    return load_provider(bundled_data() / "providers" / "sample.yaml")


@pytest.fixture(scope="module")
def sample_summary(sample_run, sample_provider) -> PublicSummary:
    return build_summary([sample_run], sample_provider)


@pytest.fixture(scope="module")
def everything() -> PublicSummary:
    return _summary(EVERYTHING)


@pytest.fixture(scope="module")
def everything_pdf(everything, tmp_path_factory) -> str:
    """The text layer of the all-Yes summary's PDF (one render), lines joined."""
    from pypdf import PdfReader

    from apertus_compliance.manifests.pdf import html_to_pdf

    path = tmp_path_factory.mktemp("pdf") / "summary.pdf"
    path.write_bytes(html_to_pdf(to_html(everything)))
    return "\n".join(page.extract_text() for page in PdfReader(path).pages)


def flat(text: str) -> str:
    """Text with line breaks (of a PDF's layout) as single spaces; a break after a hyphen or a
    slash joins the words again."""
    return re.sub(r"\s+", " ", re.sub(r"(?<=[-/])\n", "", text))


# --------------------------------------------------------------------------------------------
# the run form (one stage: the sample run)


def test_markdown_has_every_template_heading_in_order(sample_summary):
    markdown = to_markdown(sample_summary)
    assert [line for line in markdown.splitlines() if line in HEADINGS] == HEADINGS
    assert "☒ Yes ☐ No" in markdown and "☐ Yes ☒ No" in markdown
    assert markdown.startswith("# Public Summary of Training Content for General-Purpose AI models\n")


def test_json_validates_against_the_schema(sample_summary):
    import jsonschema

    text = to_json(sample_summary)
    schema = summary_json_schema()
    assert schema["additionalProperties"] is False
    jsonschema.validate(json.loads(text), schema)
    assert PublicSummary.model_validate_json(text) == sample_summary
    with pytest.raises(ValueError):
        PublicSummary.model_validate(json.loads(text) | {"extra": 1})
    broken = json.loads(text)
    broken["tdm_reservations"]["measures"] = " "
    with pytest.raises(ValueError):
        PublicSummary.model_validate(broken)


def test_figures_equal_the_lock(sample_run, sample_summary):
    lock = sample_run.lock
    text = sample_summary.training_data.modalities[0]
    assert text.modality == "text" and text.used
    assert text.amount == sum(entry.tokens.kept for entry in lock.sources.values())
    assert text.band == "Less than 1 billion tokens" and not text.at_least
    assert [row.used for row in sample_summary.training_data.modalities[1:]] == [False] * 4

    datasets = {
        label: entry
        for entry in sample_summary.public_datasets.large + sample_summary.public_datasets.other
        for label in entry.runs
    }
    assert set(datasets) == {f"apertus-sample/{source_id}" for source_id in lock.sources}
    total = sum(entry.tokens.kept for entry in lock.sources.values())
    for source_id, entry in lock.sources.items():
        listed = datasets[f"apertus-sample/{source_id}"]
        assert listed.name == entry.dataset and listed.licence == entry.license
        assert listed.size_amount == entry.tokens.kept and listed.large_by == "size"
        assert listed.large == (100 * entry.tokens.kept / total > 3)

    (optout,) = sample_summary.tdm_reservations.runs
    expected: dict[str, int] = {}
    for entry in lock.sources.values():
        for reason, count in entry.documents.removed.items():
            if reason in SIGNALS:
                expected[reason] = expected.get(reason, 0) + count
    assert optout.removed_by_signal == expected and optout.as_of == "2025-01-31"
    assert {"gptbot", "ccbot", "*"} <= set(optout.agent_tokens)
    assert "retroactively" in optout.paragraph
    (processing,) = sample_summary.other_information.runs
    assert any("<email-pii>" in paragraph for paragraph in processing.paragraphs)
    assert any("too-short" in paragraph for paragraph in processing.paragraphs)  # a filter: 3.3, not 3.2
    assert [measure.targets for measure in sample_summary.illegal_content.measures] == [["illegal-content"]]
    assert sample_summary.training_data.latest_acquisition == "08/2024"
    assert {"German", "French", "English"} <= {item.name for item in sample_summary.training_data.languages}


def test_the_sample_answers_no_where_nothing_of_the_kind_was_used(sample_summary):
    s = sample_summary
    answers = [
        s.public_datasets.used,
        s.licensed_datasets.used,
        s.private_datasets.used,
        s.crawled_data.used,
        s.user_data.from_model_interactions,
        s.user_data.from_other_services,
        s.synthetic_data.used,
        s.other_sources.used,
        s.tdm_reservations.signatory,
    ]
    assert answers == ["Yes", "No", "No", "No", "No", "No", "No", "No", "Yes"]
    markdown = to_markdown(s)
    for label in CONDITIONAL:
        if label != "If yes, specify the modality(ies) of the content covered by the datasets concerned:":
            assert label not in markdown, label  # conditional sub-fields only under a Yes


def test_a_pinned_commit_is_printed_never_the_branch(sample_dir, sample_provider, tmp_path):
    copy_dir = tmp_path / "run"
    shutil.copytree(sample_dir, copy_dir)
    lock = json.loads((copy_dir / "rebuild.lock.json").read_text())
    entry = lock["sources"]["wikipedia"]
    entry["revision"] = "main"
    for item in entry["inputs"]:
        item["revision"] = "0123456789abcdef0123456789abcdef01234567"
    (copy_dir / "rebuild.lock.json").write_text(json.dumps(lock))
    summary = build_summary([Run.open(copy_dir)], sample_provider)
    wikipedia = next(
        entry
        for entry in summary.public_datasets.large + summary.public_datasets.other
        if entry.runs == ["apertus-sample/wikipedia"]
    )
    assert wikipedia.version == "0123456789abcdef0123456789abcdef01234567"
    assert not re.search(r"\bmain\b", to_markdown(summary).split("### 2.1 ")[1].split("### 2.2 ")[0])


def test_a_run_source_without_a_name_is_refused(sample_dir, sample_provider, tmp_path):
    copy_dir = tmp_path / "run"
    shutil.copytree(sample_dir, copy_dir)
    lock = json.loads((copy_dir / "rebuild.lock.json").read_text())
    lock["sources"]["wikipedia"] |= {"dataset": None, "homepage": None}
    (copy_dir / "rebuild.lock.json").write_text(json.dumps(lock))
    with pytest.raises(InventoryError, match=r"stages\[0\]\.sources\[0\] \(apertus-sample, source wikipedia\)"):
        build_summary([Run.open(copy_dir)], sample_provider)
    with pytest.raises(ValueError, match="twice"):
        build_summary([Run.open(sample_dir), Run.open(sample_dir)], sample_provider)


# --------------------------------------------------------------------------------------------
# every Yes path


def test_each_question_has_a_working_yes_path(everything):
    s = everything
    assert s.version == "2.0" and s.last_update == "01/03/2026"
    assert s.public_datasets.used == "Yes" and s.public_datasets.modalities == ["text"]
    assert s.licensed_datasets.used == "Yes" and s.licensed_datasets.modalities == ["text", "image"]
    private = s.private_datasets
    assert private.used == "Yes" and [entry.name for entry in private.known] == ["Broker Corpus"]
    assert private.unnamed == ["Customer-support transcripts bought from a data intermediary."]
    crawl = s.crawled_data
    assert crawl.used == "Yes" and crawl.crawlers == ["ExampleBot/2.0"] and crawl.modalities == ["text"]
    assert (crawl.period_start, crawl.period_end) == ("01/2025", "09/2025")
    assert crawl.domains.declared == ["example-news.eu", "wiki.example"] and crawl.domains.sme
    user = s.user_data
    assert (user.from_model_interactions, user.from_other_services) == ("Yes", "Yes")
    assert user.services == ["Our help-desk product."]
    synthetic = s.synthetic_data
    assert synthetic.used == "Yes" and [model.name for model in synthetic.models_on_market] == ["Mistral-Large-2411"]
    assert [model.name for model in synthetic.other_models] == ["Example-internal-70B"]
    assert s.other_sources.used == "Yes" and s.other_sources.sources[0].name == "Lab notebooks"
    assert s.tdm_reservations.signatory == "Yes"
    assert s.training_data.latest_acquisition == "09/2025"
    image = next(row for row in s.training_data.modalities if row.modality == "image")
    assert image.used and image.band == "1 million to 1 billion images" and image.amount == 2e6
    text = s.training_data.modalities[0]
    assert text.band == "1 billion to 10 trillion tokens" and text.amount == pytest.approx(5.6321e9)

    markdown = to_markdown(s)
    for label in CONDITIONAL:
        assert label in markdown, label
    for section in ("1.3", "2.1", "2.2.1", "2.2.2", "2.3", "2.4", "2.5", "2.6", "3.1"):
        assert f"**Additional comments (optional):** Comment on {section}." in markdown
    section_2_2_1 = markdown.split("#### 2.2.1 ")[1].split("#### 2.2.2 ")[0]
    assert "☒ Yes ☐ No" in section_2_2_1 and "☒ Text ☒ Image ☐ Video ☐ Audio ☐ Other" in section_2_2_1


def test_illegal_content_lists_only_measures_that_target_it(everything):
    assert [measure.name for measure in everything.illegal_content.measures] == ["CSAM hash matching"]
    assert [measure.name for measure in everything.other_information.measures] == ["PII masking", "Length filter"]
    section = to_markdown(everything).split("### 3.2 ")[1].split("### 3.3 ")[0]
    assert "CSAM" in section and "PII" not in section and "Length" not in section


def test_a_public_synthetic_dataset_made_by_others_is_a_public_dataset():
    data = _inventory()
    data["stages"][0]["sources"].append(
        {
            "name": "EuroBlocks-SFT-Synthetic-1124",
            "kind": "public",
            "link": "https://huggingface.co/datasets/utter-project/EuroBlocks-SFT-Synthetic-1124",
            "size": {"amount": 1e7, "unit": "tokens"},
        }
    )
    summary = _summary(data)
    assert summary.synthetic_data.used == "No"
    assert "EuroBlocks-SFT-Synthetic-1124" in [entry.name for entry in summary.public_datasets.other]


@pytest.mark.parametrize(
    "sizes, band, at_least",
    [
        ([6e12, 6e12], "More than 10 trillion tokens", False),  # all stages together
        ([6e12, None], None, None),  # a stage without a size and 6T known: the band is undecided
        ([11e12, None], "More than 10 trillion tokens", True),  # at least 11T: the band is decided
        ([5e8, 4e8], "Less than 1 billion tokens", False),
        ([10e12, 0.5e9], "More than 10 trillion tokens", False),
        ([10e12, None], None, None),
    ],
)
def test_the_size_band_covers_every_stage(sizes, band, at_least):
    data = _inventory()
    second = copy.deepcopy(data["stages"][0]) | {
        "id": "posttraining",
        "name": "Post-training",
        "phase": "post-training",
    }
    data["stages"].append(second)
    for stage, size in zip(data["stages"], sizes, strict=True):
        stage["sources"][0].pop("size")
        if size is not None:
            stage["size"] = {"amount": size, "unit": "tokens"}
    if band is None:
        with pytest.raises(InventoryError, match="do not decide the template's band; give the missing stages a size"):
            _summary(data)
        return
    text = _summary(data).training_data.modalities[0]
    assert (text.band, text.at_least) == (band, at_least)
    assert text.stages_not_counted == (["Post-training"] if at_least else [])


def test_large_datasets_are_compared_unrounded():
    data = _inventory()
    data["stages"][0]["sources"] = [
        {"name": name, "kind": "public", "size": {"amount": amount, "unit": "tokens"}}
        for name, amount in (("Big", 96_999), ("Edge", 3_001), ("Small", 0.5))
    ]
    public = _summary(data).public_datasets
    assert [entry.name for entry in public.large] == ["Big", "Edge"]  # 3.001% > 3%, though it prints 3.0
    assert [entry.name for entry in public.other] == ["Small"]
    edge = public.large[1]
    assert edge.share_percent == 3.0 and edge.large_by == "size"

    data["stages"][0]["sources"][1].pop("size")  # sizes cannot decide: the provider's word, else listed
    data["stages"][0]["sources"][0]["large"] = False
    data["stages"][0]["size"] = {"amount": 100_000, "unit": "tokens"}
    public = _summary(data).public_datasets
    assert [(entry.name, entry.large_by) for entry in public.large] == [("Edge", "unknown"), ("Small", "unknown")]
    assert [(entry.name, entry.large_by) for entry in public.other] == [("Big", "provider")]


def test_a_dataset_used_in_several_stages_is_listed_once():
    data = _inventory()
    second = copy.deepcopy(data["stages"][0]) | {"id": "sft", "name": "Fine-tuning", "phase": "post-training"}
    second["sources"][0]["version"] = "v4"
    data["stages"].append(second)
    (entry,) = _summary(data).public_datasets.large
    assert entry.stages == ["Pre-training", "Fine-tuning"] and entry.version == "v3, v4"
    assert entry.size_amount == 4e9


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda d: d["provider"].update(
                crawling={
                    "crawlers": ["Bot"],
                    "purposes": "p",
                    "behaviour": "b",
                    "period": {"end": "2025-01"},
                    "content": "c",
                }
            ),
            "provider.crawling: crawlers are described but no source is crawled-by-provider",
        ),
        (
            lambda d: (
                d["stages"][0]["sources"].append(
                    {"name": "Pics", "kind": "public", "modality": "image", "size": {"amount": 1, "unit": "images"}}
                )
                or d["stages"][0].update(size={"amount": 1e9, "unit": "tokens"})
            ),
            r"stages\[0\]\.size: the stage has sources of several modalities",
        ),
        (
            lambda d: d["stages"][0]["sources"].append(
                {"name": "Books", "kind": "public", "size": {"amount": 3, "unit": "books"}}
            ),
            "the text sizes are in several units",
        ),
        (lambda d: d["stages"][0]["sources"][0].pop("size"), "no size is stated for the text data"),
    ],
)
def test_inputs_that_cannot_be_summarised_are_refused(change, message):
    data = _inventory()
    change(data)
    with pytest.raises(InventoryError, match=message):
        _summary(data)


# --------------------------------------------------------------------------------------------
# HTML and PDF


def test_html_is_strict_html5_with_the_answers_as_text(everything, sample_provider, sample_run):
    import html5lib

    html = to_html(everything)
    parser = html5lib.HTMLParser(strict=True, tree=html5lib.getTreeBuilder("etree"), namespaceHTMLElements=False)
    root = parser.parse(html)
    headings = ["".join(element.itertext()).strip() for element in root.iter() if element.tag in ("h2", "h3", "h4")]
    assert headings == [heading.lstrip("# ") for heading in HEADINGS]
    crawl = next(element for element in root.iter("section") if element.get("id") == "section-2-3")
    assert "☒ Yes ☐ No" in "".join(crawl.itertext())
    assert "size: A4" in html and "counter(pages)" in html and "overflow-wrap: anywhere" in html

    hostile = build_summary(
        [sample_run], sample_provider.model_copy(update={"provider": "<script>alert(1)</script> Lab"})
    )
    hostile_html = to_html(hostile)
    assert "<script>" not in hostile_html and "&lt;script&gt;" in hostile_html
    assert "&lt;email-pii&gt;" in hostile_html


def test_the_pdf_has_every_label_word_for_word_and_the_boxes_as_text(everything_pdf):
    text = flat(everything_pdf)
    missing = [label for label in LABELS if label not in text]
    assert not missing
    assert "Version of the Summary: 2.0" in text and "Last update: 01/03/2026" in text
    assert text.count("☒ Yes ☐ No") == 9  # every Yes/No question answered Yes
    assert "☒ Text ☒ Image ☐ Video ☐ Audio ☐ Other" in text
    pages = len(re.findall(r"Page \d+ of (\d+)", everything_pdf))
    assert pages >= 2 and f"Page {pages} of {pages}" in text
    for word in INTERNAL_WORDS:
        assert word not in text, word


# --------------------------------------------------------------------------------------------
# the command


def test_the_command_writes_every_file(sample_dir, tmp_path):
    from apertus_compliance.manifests.cli import manifest

    runner = CliRunner()
    out = tmp_path / "out"
    provider = str(bundled_data() / "providers" / "sample.yaml")
    done = runner.invoke(manifest, ["eu-summary", "--run", str(sample_dir), "--provider", provider, "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert sorted(path.name for path in out.iterdir()) == sorted([*FILES, PDF_FILE])
    assert (out / PDF_FILE).read_bytes().startswith(b"%PDF-")
    schema = json.loads((out / "eu-public-summary.schema.json").read_text())
    assert schema == summary_json_schema()

    again = runner.invoke(manifest, ["eu-summary", "--run", str(sample_dir), "--provider", provider, "--out", str(out)])
    assert again.exit_code != 0 and "use --force" in str(again.exception)
    first = (out / PDF_FILE).read_bytes()
    forced = runner.invoke(
        manifest, ["eu-summary", "--run", str(sample_dir), "--provider", provider, "--out", str(out), "--force"]
    )
    assert forced.exit_code == 0 and (out / PDF_FILE).read_bytes() == first  # the same page, the same bytes

    inventory = str(bundled_inventory("apertus"))
    bad = runner.invoke(manifest, ["eu-summary", "--inventory", inventory, "--run", str(sample_dir), "--out", "x"])
    assert bad.exit_code == 2 and "give STAGE=PATH" in bad.output
    both = runner.invoke(manifest, ["eu-summary", "--inventory", inventory, "--provider", provider, "--out", "x"])
    assert both.exit_code == 2 and "give --inventory FILE" in both.output
    unknown = runner.invoke(
        manifest, ["eu-summary", "--inventory", inventory, "--run", f"phase9={sample_dir}", "--out", "x"]
    )
    assert isinstance(unknown.exception, InventoryError) and "no such stage" in str(unknown.exception)


def test_a_run_added_to_a_stage_joins_its_declared_datasets(sample_run):
    data = yaml.safe_load(Path(bundled_inventory("apertus")).read_text())
    data["stages"][0]["sources"].append({"run": str(sample_run.dir)})
    summary = summarise(validate_inventory(data, "apertus.yaml"), {sample_run.dir: sample_run})
    assert summary.runs[0].label == "apertus-sample" and summary.runs[0].stage == "Pre-training (stages 1 to 5)"
    text = summary.training_data.modalities[0]
    assert text.amount == 15e12 and text.band == "More than 10 trillion tokens"  # the stage's size stands
    assert summary.tdm_reservations.runs[0].as_of == "2025-01-31"
    assert summary.training_data.languages  # computed from the run beside the provider's statement


def test_without_public_datasets_2_1_answers_no_and_hides_its_sub_fields():
    data = _inventory()
    data["stages"][0]["sources"][0] |= {"kind": "other", "description": "Transcribed lab notebooks."}
    summary = _summary(data)
    assert summary.public_datasets.used == "No" and summary.public_datasets.large == []
    assert summary.other_sources.used == "Yes"
    section = to_markdown(summary).split("### 2.1 ")[1].split("### 2.2 ")[0]
    assert "☐ Yes ☒ No" in section and "List of large publicly available datasets:" not in section


def test_the_training_size_counts_a_repeated_source_as_often_as_training_saw_it(sample_run, sample_provider):
    from apertus_compliance.pipeline import RunLock

    data = sample_run.lock.to_dict()
    data["sources"]["starcoder"]["epochs"] = 2
    twice = build_summary([Run(sample_run.dir, RunLock.from_dict(data))], sample_provider)
    once = build_summary([sample_run], sample_provider)
    starcoder = sample_run.lock.sources["starcoder"].tokens.kept
    assert twice.training_data.modalities[0].amount == once.training_data.modalities[0].amount + starcoder
    listed = {
        label: entry for entry in twice.public_datasets.large + twice.public_datasets.other for label in entry.runs
    }
    assert listed["apertus-sample/starcoder"].size_amount == starcoder  # the dataset's own size stays distinct
