"""Randomly initialised Apertus checkpoints with a tiny tokenizer, built offline.

Tests and benchmarks need a model without the hub: ``write_random_checkpoint(folder)`` writes a
folder that ``Engine.load`` (and ``apertus-compliance serve --model``) reads like a real one. The
weights are random, so the text is gibberish; the shapes, the chat template and the code paths
are real. ``shape="apertus-0.5b"`` is the published Apertus-0.5B architecture (for benchmarks).
"""

from __future__ import annotations

from pathlib import Path

SHAPES = {
    "tiny": dict(
        hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2
    ),
    "apertus-0.5b": dict(
        hidden_size=1024,
        intermediate_size=6144,
        num_hidden_layers=20,
        num_attention_heads=16,
        num_key_value_heads=4,
        vocab_size=131072,
    ),
}
SPECIAL_TOKENS = [
    "<unk>",
    "<s>",
    "</s>",
    "<pad>",
    "<|system_start|>",
    "<|system_end|>",
    "<|developer_start|>",
    "<|developer_end|>",
    "<|user_start|>",
    "<|user_end|>",
    "<|assistant_start|>",
    "<|assistant_end|>",
    "<|inner_prefix|>",
    "<|inner_suffix|>",
    "<|tools_prefix|>",
    "<|tools_suffix|>",
]
"""The released Apertus tokenizer's own special tokens that its chat template writes (other ids)."""
CORPUS = [
    "Guten Tag, hier spricht Hans Müller aus Zürich. Schreiben Sie an anna.muster@beispiel.de.",
    "The quick brown fox jumps over the lazy dog. Contact jane.doe@example.org or call +41 44 123 45 67.",
    "Bonjour, je m'appelle Claire Dubois et j'habite à Genève. Numéro: 079 555 12 34.",
    "Apertus is a fully open multilingual language model trained on compliant data.",
    "Buongiorno! La risposta è semplice: quarantadue. Grazie mille, arrivederci.",
] * 20


def build_tokenizer(vocab_size: int = 400):
    """A byte-level BPE tokenizer (every string encodes) with the Apertus special tokens above and the
    released Apertus chat template, so prompts are rendered as the real model's are."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from apertus_compliance.serve.engine import apertus_chat_template

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(CORPUS, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token="<s>", eos_token="<|assistant_end|>", pad_token="<pad>", unk_token="<unk>"
    )
    tokenizer.chat_template = apertus_chat_template()
    return tokenizer


def random_model(shape: str = "tiny", *, vocab_size: int, seed: int = 0, tokenizer=None):
    """An ``ApertusForCausalLM`` with random weights of a named shape (in memory)."""
    import torch
    from transformers import ApertusConfig, ApertusForCausalLM, GenerationConfig

    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}: choose one of {', '.join(SHAPES)}")
    sizes = {"vocab_size": vocab_size, **SHAPES[shape]}
    torch.manual_seed(seed)
    config = ApertusConfig(
        **sizes,
        max_position_embeddings=65536,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id if tokenizer else 1,
        eos_token_id=tokenizer.eos_token_id if tokenizer else 2,
        pad_token_id=tokenizer.pad_token_id if tokenizer else 0,
    )
    model = ApertusForCausalLM(config)
    if shape == "tiny":
        # the default init (std 0.02) makes a 2-layer model repeat one token; wider weights vary the text
        with torch.no_grad():
            for parameter in model.parameters():
                if parameter.dim() == 2:
                    parameter.normal_(0.0, 0.3)
    model.generation_config = GenerationConfig(
        do_sample=True,
        temperature=0.8,
        top_p=0.9,
        bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id,
    )
    return model.eval()


def write_random_checkpoint(folder: str | Path, shape: str = "tiny", *, seed: int = 0) -> Path:
    """Save tokenizer + random model to ``folder``, loadable with ``from_pretrained``."""
    folder = Path(folder)
    tokenizer = build_tokenizer()
    vocab = max(len(tokenizer), SHAPES.get(shape, {}).get("vocab_size", 0))
    model = random_model(shape, vocab_size=vocab, seed=seed, tokenizer=tokenizer)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(folder)
    model.save_pretrained(folder)
    return folder
