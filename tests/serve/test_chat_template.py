"""The served chat prompt is the released Apertus prompt: the stored template renders one user message
exactly as transformers' own Apertus test expects, with the real tokenizer's control ids."""

import datetime
import hashlib
import re
from pathlib import Path

import pytest

SERVE_EXTRA = "needs the serve extra (torch, transformers): pip install -e '.[serve]'"
pytest.importorskip("torch", reason=SERVE_EXTRA)
pytest.importorskip("transformers", reason=SERVE_EXTRA)

from apertus_compliance.paths import bundled_data  # noqa: E402
from apertus_compliance.serve.engine import EngineError, apertus_chat_template  # noqa: E402
from apertus_compliance.serve.random_model import build_tokenizer  # noqa: E402

QUESTION = "Give me a brief explanation of gravity in simple terms."
EXPECTED = (  # transformers tests/models/apertus, test_model_8b_instruct_greedy_generation, up to the answer
    "<s><|system_start|>You are Apertus, a helpful assistant created by the SwissAI initiative.\n"
    "Knowledge cutoff: 2024-04\nCurrent date: {date}<|system_end|><|developer_start|>Deliberation: disabled\n"
    "Tool Capabilities: disabled<|developer_end|><|user_start|>" + QUESTION + "<|user_end|><|assistant_start|>"
)
MESSAGES = [{"role": "user", "content": QUESTION}]


def rendered_on_today(render) -> str:
    """``render()``'s prompt with its ``Current date:`` checked to be the day it was rendered on."""
    before = datetime.date.today().isoformat()
    prompt = render()
    after = datetime.date.today().isoformat()
    found = re.search(r"Current date: (\d{4}-\d{2}-\d{2})<", prompt)
    assert found and found.group(1) in {before, after}
    return prompt.replace(found.group(1), "{date}", 1)


def test_one_user_message_renders_the_prompt_transformers_expects():
    tokenizer = build_tokenizer()  # the tiny random model's tokenizer carries the template
    prompt = rendered_on_today(
        lambda: tokenizer.apply_chat_template(MESSAGES, tokenize=False, add_generation_prompt=True)
    )
    assert prompt == EXPECTED


def test_the_released_tokenizer_reads_the_prompt_with_the_apertus_control_ids():
    from transformers import PreTrainedTokenizerFast

    from apertus_compliance.pipeline.tokenizer import apertus_tokenizer_file

    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(apertus_tokenizer_file()), bos_token="<s>")
    assert not tokenizer.chat_template  # the tokenizer.json carries none: the stored one is used
    template = apertus_chat_template(tokenizer)
    ids = tokenizer.apply_chat_template(
        MESSAGES, chat_template=template, add_generation_prompt=True, tokenize=True, return_dict=False
    )
    assert [token for token in ids if token < 1000] == [1, 61, 62, 63, 64, 65, 66, 67]
    prompt = tokenizer.decode(ids)
    assert re.sub(r"\d{4}-\d{2}-\d{2}", "{date}", prompt, count=1) == EXPECTED


def test_a_tokenizer_without_the_apertus_control_tokens_gets_no_apertus_template():
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    plain = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel({"<unk>": 0, "hi": 1}, unk_token="<unk>")), unk_token="<unk>"
    )
    assert apertus_chat_template(plain) is None
    assert apertus_chat_template(build_tokenizer()) == apertus_chat_template()


def test_a_checkpoint_without_a_template_is_served_the_apertus_prompt(make_engine):
    engine = make_engine()
    engine.tokenizer.chat_template = None
    prompt = rendered_on_today(lambda: engine.tokenizer.decode(engine.chat_prompt(MESSAGES)))
    assert prompt == EXPECTED


def test_messages_the_template_refuses_are_an_engine_error(make_engine):
    engine = make_engine()
    with pytest.raises(EngineError, match="chat template refused the messages: Invalid message role"):
        engine.chat_prompt([{"role": "developer", "content": "x"}])


def test_the_stored_template_is_the_recorded_copy():
    folder = Path(bundled_data()) / "chat_templates"
    digest = hashlib.sha256((folder / "apertus_1.jinja").read_bytes()).hexdigest()
    assert digest in (folder / "README.md").read_text(encoding="utf-8")
