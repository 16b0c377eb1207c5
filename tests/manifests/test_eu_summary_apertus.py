"""The bundled Apertus inventory's summary answers every question as Apertus filed it (version V1
of 01/09/2025, shared/reference/apertus-eu-public-summary.txt), read from the PDF's text layer:
the ticked box of each Yes/No question, the size band, the four models, every filed dataset and
the contacts; the template's labels word for word."""

import re

import pytest

from apertus_compliance.manifests.eu_summary import summarise, to_html
from apertus_compliance.manifests.inventory import bundled_inventory, load_inventory

# The Yes/No questions in the template's order, and Apertus's filed answers.
FILED_ANSWERS = [
    ("Have you used publicly available datasets to train the model?", "Yes"),
    (
        "Have you concluded transactional commercial licensing agreement(s) with rightsholder(s) or with their "
        "representatives?",
        "No",
    ),
    (
        "Have you obtained private datasets from third parties that are not licensed as described in Section 2.2.1, "
        "such as data obtained from providers of private databases, or data intermediaries?",
        "No",
    ),
    ("Were crawlers used by the provider or on behalf of?", "No"),
    (
        "Was data from user interactions with the AI model (e.g. user input and prompts) used to train the model?",
        "No",
    ),
    (
        "Was data collected from user interactions with the provider's other services or products used to train the "
        "model?",
        "No",
    ),
    ("Was synthetic AI-generated data created by the provider or on their behalf to train the model?", "No"),
    ("Have data sources other than those described in Sections 2.1 to 2.5 been used to train the model?", "No"),
    (
        "Are you a Signatory to the Code of Practice for general-purpose AI models that includes commitments to "
        "respect reservations of rights from the TDM exception or limitation?",
        "No",
    ),
]
FILED_DATASETS = [
    "https://huggingface.co/datasets/HuggingFaceFW/fineweb-edu",
    "https://huggingface.co/datasets/epfml/FineWeb-HQ",
    "https://huggingface.co/datasets/HuggingFaceTB/dclm-edu",
    "https://huggingface.co/datasets/epfml/FineWeb2-HQ",
    "https://huggingface.co/datasets/HuggingFaceFW/fineweb-2",
    "https://huggingface.co/datasets/bigcode/the-stack-dedup",
    "https://huggingface.co/datasets/common-pile/stackv2_edu_filtered",
    "https://huggingface.co/datasets/HuggingFaceTB/finemath",
    "https://huggingface.co/datasets/LLM360/MegaMath",
    "https://huggingface.co/datasets/HuggingFaceTB/smoltalk2",
    "https://huggingface.co/datasets/utter-project/EuroBlocks-SFT-Synthetic-1124",
    "https://huggingface.co/datasets/allenai/tulu-3-sft-olmo-2-mixture-0225",
    "https://huggingface.co/datasets/DataProvenanceInitiative/Commercial-Flan-Collection-Chain-Of-Thought",
    "https://spylab.ai/",
]
ALWAYS_SHOWN_LABELS = [
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
    "Alternatively, specify the approximate size in a different measurement unit:",
    "Latest date of data acquisition/collection for model training:",
    "Description of the linguistic characteristics of the overall training data:",
    "Other relevant characteristics of the overall training data:",
    "Additional comments (optional):",
    "If yes, specify the modality(ies) of the content covered by the datasets concerned:",
    "List of large publicly available datasets:",
    "General description of other publicly available datasets not listed above:",
    "Describe the measures implemented before model training to respect reservations of rights from the TDM "
    "exception or limitation before and during data collection, including the opt-out protocols and solutions "
    "honoured by the provider or, as applicable, by third parties from which datasets have been obtained:",
    "General description of measures taken:",
    "Other relevant information about data processing (optional):",
    *(question for question, _ in FILED_ANSWERS),
]


@pytest.fixture(scope="module")
def summary():
    return summarise(load_inventory(bundled_inventory("apertus")))


@pytest.fixture(scope="module")
def pdf_text(summary, tmp_path_factory) -> str:
    """The PDF's text layer, line breaks as spaces (one render per test session)."""
    from pypdf import PdfReader

    from apertus_compliance.manifests.pdf import html_to_pdf

    path = tmp_path_factory.mktemp("apertus") / "eu-public-summary.pdf"
    path.write_bytes(html_to_pdf(to_html(summary)))
    text = "\n".join(page.extract_text() for page in PdfReader(path).pages)
    return re.sub(r"\s+", " ", re.sub(r"(?<=[-/])\n", "", text))


def _answer(text: str, question: str) -> str:
    """The ticked box right after a question: ``Yes`` for ``☒ Yes ☐ No``, ``No`` for ``☐ Yes ☒ No``."""
    match = re.search(re.escape(question) + r" (☒|☐) Yes (☒|☐) No", text)
    assert match, f"question not found with its boxes: {question}"
    assert match.groups() in (("☒", "☐"), ("☐", "☒")), match.groups()  # exactly one box ticked
    return "Yes" if match.group(1) == "☒" else "No"


def test_every_yes_no_question_is_answered_as_filed(pdf_text):
    assert [(question, _answer(pdf_text, question)) for question, _ in FILED_ANSWERS] == FILED_ANSWERS


def test_the_size_band_and_the_text_modality(pdf_text, summary):
    assert "☐ Less than 1 billion tokens ☐ 1 billion to 10 trillion tokens ☒ More than 10 trillion tokens" in pdf_text
    assert "☒ Text" in pdf_text and "☐ Image" in pdf_text
    assert "15 trillion tokens" in pdf_text
    text = summary.training_data.modalities[0]
    assert text.band == "More than 10 trillion tokens" and text.amount == 15e12
    section_2_1 = pdf_text.split("2.1 Publicly available datasets")[1].split("2.2 Private")[0]
    assert "☒ Text ☐ Image ☐ Video ☐ Audio ☐ Other" in section_2_1


def test_the_provider_the_models_and_the_version(pdf_text):
    assert "Version of the Summary: V1" in pdf_text and "Last update: 01/09/2025" in pdf_text
    assert (
        "Swiss National AI Institute, a partnership between the two Swiss Federal Institutes of Technology, "
        "ETH Zurich and EPFL" in pdf_text
    )
    assert "https://www.swiss-ai.org/" in pdf_text and "llm-requests@swiss-ai.org" in pdf_text
    assert re.search(r"Authorised representative name and contact details: N/A", pdf_text)
    for model in ("Apertus-8B", "Apertus-70B", "Apertus-8B-Instruct", "Apertus-70B-Instruct"):
        assert f"{model} (version 2509), https://huggingface.co/swiss-ai/{model}" in pdf_text
    assert "Model dependencies: N/A" in pdf_text
    assert "Date of placement of the model on the Union market: 02/09/2025" in pdf_text
    assert "llm-copyright-requests@swiss-ai.org" in pdf_text  # where rights holders complain


def test_every_filed_dataset_is_named_with_its_link_and_version(pdf_text, summary):
    compact = pdf_text.replace(" ", "")  # a long link wraps inside its cell, anywhere
    for link in FILED_DATASETS:
        assert link in compact, link
    for name in ("Wikipedia", "Project Gutenberg"):
        assert name in pdf_text
    large = {entry.link: entry for entry in summary.public_datasets.large}
    assert set(FILED_DATASETS[:9]) == set(large)  # the nine datasets filed as large
    assert large["https://huggingface.co/datasets/HuggingFaceFW/fineweb-edu"].version == "v1.0.0"
    assert large["https://huggingface.co/datasets/HuggingFaceFW/fineweb-2"].version == "v2.0.1"
    assert large["https://huggingface.co/datasets/bigcode/the-stack-dedup"].version == "v1.2"
    for group in ("English datasets:", "Multilingual datasets:", "Code & math datasets:"):
        assert group in pdf_text
    assert summary.synthetic_data.used == "No"  # EuroBlocks is a public dataset (2.1)


def test_the_processing_answers(pdf_text, summary):
    assert [measure.name for measure in summary.illegal_content.measures] == [
        "Toxicity filtering",
        "Quality classifiers",
    ]
    section_3_2 = pdf_text.split("3.2 Removal of illegal content")[1].split("3.3 Other information")[0]
    assert "XLM-RoBERTa" in section_3_2 and "toxic-commons" in section_3_2 and "quality classifiers" in section_3_2
    assert "PII" not in section_3_2 and "Goldfish" not in section_3_2
    section_3_3 = pdf_text.split("3.3 Other information (optional)")[1]
    assert "Goldfish" in section_3_3 and "every 50th token" in section_3_3
    assert "retroactively in all earlier crawls since 2013" in pdf_text


def test_the_template_labels_appear_word_for_word(pdf_text):
    assert [label for label in ALWAYS_SHOWN_LABELS if label not in pdf_text] == []
    pages = re.findall(r"Page \d+ of (\d+)", pdf_text)
    assert pages and len(pages) == int(pages[0])  # every page numbered
    for internal in ("crawled_by_provider", "crawled-by-provider", "`", "declarations", "large_by"):
        assert internal not in pdf_text


# --------------------------------------------------------------------------------------------
# with a Phase-5 rebuild added to the pre-training stage

PHASE5 = {  # source id: (hub dataset, homepage, content type, revision read, kept tokens, url)
    "dclm-edu": ("HuggingFaceTB/dclm-edu", "https://huggingface.co/datasets/HuggingFaceTB/dclm-edu", "educational-web", "a" * 40, 1619 * 10**9, True),
    "starcoder": ("bigcode/the-stack-dedup", "https://huggingface.co/datasets/bigcode/the-stack-dedup", "code", "b" * 40, 182 * 10**9, False),
    "infimm-webmath": ("Infi-MM/InfiMM-WebMath-40B", "https://huggingface.co/datasets/Infi-MM/InfiMM-WebMath-40B", "math", "c" * 40, 19 * 10**9, True),
    "task-data": ("DataProvenanceInitiative/Commercial-Flan-Collection-Chain-Of-Thought", "https://huggingface.co/datasets/DataProvenanceInitiative/Commercial-Flan-Collection-Chain-Of-Thought", "instruction", "d" * 40, 3 * 10**9, False),
}  # fmt: skip


@pytest.fixture(scope="module")
def phase5_dir(tmp_path_factory):
    """A run folder shaped like an Apertus Phase-5 rebuild (Table-6 token counts, tiny shards that
    verify against the lock, hub inputs read at pinned commits, opt-outs as of 2025-01-31)."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from apertus_compliance.pipeline.lock import LOCK_FORMAT, LOCK_NAME, file_sha256
    from apertus_compliance.pipeline.steps import MIXTURE_SCHEMA

    run_dir = tmp_path_factory.mktemp("phase5") / "run"
    outputs, sources = [], {}
    for source_id, (dataset, homepage, content_type, commit, kept, has_url) in PHASE5.items():
        rows = [
            {
                "id": f"{source_id}-{number}",
                "text": f"document {number}",
                "url": f"https://www.site{number}.example.org/{source_id}" if has_url else None,
                "date": None,
                "language": "en" if content_type != "code" else "python",
                "source": source_id,
                "tokens": tokens,
                "sample_key": number,
                "pii_email": 0,
                "pii_ip": 0,
                "pii_iban": 0,
            }
            for number, tokens in enumerate((kept // 2, kept - kept // 2))
        ]
        path = run_dir / "mixture" / source_id / "00000.parquet"
        path.parent.mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=MIXTURE_SCHEMA), path)
        outputs.append(
            {"path": f"mixture/{source_id}/00000.parquet", "sha256": file_sha256(path), "documents": 2, "tokens": kept}
        )
        sources[source_id] = {
            "content_type": content_type,
            "dataset": dataset,
            "revision": "main",
            "homepage": homepage,
            "license": None,
            "crawled_by_provider": False,
            "steps": {"optout": has_url, "pii": False, "public_ip_only": False, "filters": []},
            "inputs": [{"path": "data/00000.parquet", "revision": commit}],
            "documents": {"read": 2, "kept": 2, "removed": {}},
            "tokens": {"target": kept, "kept": kept, "removed": {}},
        }
    lock = {
        "format": LOCK_FORMAT,
        "format_version": 1,
        "recipe": {"name": "apertus-phase5", "path": "apertus-phase5.yaml", "sha256": "e" * 64, "seed": 1},
        "tokenizer": {"name": "swiss-ai/Apertus-8B-2509", "kind": "hub"},
        "optout": {
            "snapshot_id": "f" * 64,
            "as_of": "2025-01-31",
            "agent_list": "apertus-2025-01",
            "granularity": "url",
            "strict": False,
        },
        "deletion_list": None,
        "sources": sources,
        "outputs": outputs,
        "removed": [],
    }
    (run_dir / LOCK_NAME).write_text(json.dumps(lock, indent=2, sort_keys=True))
    return run_dir


def test_a_phase5_rebuild_adds_its_facts_and_changes_no_filed_answer(phase5_dir):
    inventory = load_inventory(bundled_inventory("apertus"), runs={"pretraining": phase5_dir})
    summary = summarise(inventory)
    answers = [
        summary.public_datasets.used,
        summary.licensed_datasets.used,
        summary.private_datasets.used,
        summary.crawled_data.used,
        summary.user_data.from_model_interactions,
        summary.user_data.from_other_services,
        summary.synthetic_data.used,
        summary.other_sources.used,
        summary.tdm_reservations.signatory,
    ]
    assert answers == [answer for _, answer in FILED_ANSWERS]
    text = summary.training_data.modalities[0]
    assert (text.band, text.amount) == ("More than 10 trillion tokens", 15e12)  # the stage's stated size
    entries = {entry.link: entry for entry in summary.public_datasets.large + summary.public_datasets.other}
    assert len(entries) == len(summary.public_datasets.large + summary.public_datasets.other)  # merged, not doubled
    stack = entries["https://huggingface.co/datasets/bigcode/the-stack-dedup"]
    assert stack.version == "v1.2, " + "b" * 40 and stack.runs == ["apertus-phase5/starcoder"]
    assert stack.large and stack.large_by == "provider"
    flan = entries[
        "https://huggingface.co/datasets/DataProvenanceInitiative/Commercial-Flan-Collection-Chain-Of-Thought"
    ]
    assert flan.stages == ["Pre-training (stages 1 to 5)", "Post-training (supervised fine-tuning and alignment)"]
    assert "main" not in [entry.version for entry in entries.values()]
    (optout,) = summary.tdm_reservations.runs
    assert optout.as_of == "2025-01-31" and "retroactively" in optout.paragraph
    assert summary.runs[0].stage == "Pre-training (stages 1 to 5)"
    assert [item.name for item in summary.training_data.languages] == ["English"]
