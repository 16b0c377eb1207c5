"""The bundled inference engine: one transformers causal LM, requests batched step by step.

Why a scheduler of our own (over transformers' continuous batching): the server needs per-request
seeds, stop strings and logits processors, which the continuous-batching manager does not offer,
and a short loop over ``model(...)`` with a left-padded ``DynamicCache`` is all it takes.

One thread owns the model. Each iteration it admits waiting requests (prefilled together in
groups of similar prompt length, each group's cache then joined to the batch's, left-padded), runs one decode step for every active
request together, samples one token per request, and hands out the text that is final:
incremental detokenization holds back an incomplete UTF-8 sequence, and text that could still
become a stop string. Finished or cancelled requests leave the batch before the next step.

Seeds: a request with ``seed`` samples from its own ``torch.Generator``, so it repeats exactly
when it runs alone; in a batch, floating-point rounding of the batched matmuls can differ.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from apertus_compliance.errors import ApertusError
from apertus_compliance.paths import bundled_data

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "swiss-ai/Apertus-0.5B-Instruct"
DEFAULT_TEMPERATURE = 0.8
"""The Apertus model card's recommended sampling."""
DEFAULT_TOP_P = 0.9
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
CHAT_ROLES = ("system", "developer", "user", "assistant", "tool")
APERTUS_CONTROL_TOKENS = tuple(
    f"<|{name}|>" for part in ("system", "developer", "user", "assistant") for name in (f"{part}_start", f"{part}_end")
)
"""The control tokens the Apertus chat template writes for a text chat."""

LogitsProcessor = Callable[[torch.LongTensor, torch.Tensor], torch.Tensor]
"""transformers' contract: ``(input_ids [1, seq], scores [1, vocab]) -> scores``."""


def apertus_chat_template(tokenizer=None) -> str | None:
    """The released Apertus chat template (``data/chat_templates/apertus_1.jinja``), for checkpoints that
    ship none: only when ``tokenizer`` (if given) has the control tokens it writes, else ``None``."""
    if tokenizer is not None:
        unknown = tokenizer.unk_token_id
        ids = tokenizer.convert_tokens_to_ids(list(APERTUS_CONTROL_TOKENS))
        if any(token_id is None or token_id == unknown for token_id in ids):
            return None
    return (bundled_data() / "chat_templates" / "apertus_1.jinja").read_text(encoding="utf-8")


class EngineError(ApertusError, RuntimeError):
    """The engine cannot load, or cannot take a request; the message names the cause."""


class EngineOverloaded(EngineError):
    """Too many requests are waiting; the client should retry later."""


@dataclass(frozen=True)
class SamplingParams:
    """What one request asks for. ``temperature == 0`` is greedy decoding."""

    max_tokens: int
    temperature: float = DEFAULT_TEMPERATURE
    top_p: float = DEFAULT_TOP_P
    seed: int | None = None
    stop: tuple[str, ...] = ()
    ignore_eos: bool = False
    """Generate exactly ``max_tokens`` (benchmarks)."""

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {self.max_tokens}")
        if not 0 <= self.temperature <= 2:
            raise ValueError(f"temperature must be between 0 and 2, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if any(not stop for stop in self.stop):
            raise ValueError("stop strings must not be empty")


@dataclass(frozen=True)
class Piece:
    """Text released by one step of one request; the last piece has ``finish_reason`` (or ``error``)."""

    text: str
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


class Generation:
    """A submitted request: iterate its pieces (``async for`` in a server, ``for`` in a script), or cancel it.

    The engine thread pushes pieces; consumers on an event loop are woken through the loop that
    submitted the request.
    """

    def __init__(self, request_id: int, prompt_ids: list[int], params: SamplingParams) -> None:
        self.request_id = request_id
        self.prompt_ids = prompt_ids
        self.params = params
        self.cancelled = threading.Event()
        self.submitted_at = time.monotonic()
        self.first_token_at: float | None = None
        self._pieces: collections.deque[Piece] = collections.deque()
        self._ready = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        try:
            self._loop = asyncio.get_running_loop()
            self._wake = asyncio.Event()
        except RuntimeError:
            pass

    def cancel(self) -> None:
        """The client is gone: the engine drops the request before its next step."""
        self.cancelled.set()

    def push(self, piece: Piece) -> None:
        """Called by the engine thread."""
        if self.first_token_at is None:
            self.first_token_at = time.monotonic()
        with self._ready:
            self._pieces.append(piece)
            self._ready.notify_all()
        if self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(self._wake.set)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                self.cancel()

    def __iter__(self) -> Iterator[Piece]:
        while True:
            with self._ready:
                while not self._pieces:
                    self._ready.wait()
                piece = self._pieces.popleft()
            yield piece
            if piece.finish_reason is not None or piece.error is not None:
                return

    async def __aiter__(self):
        if self._wake is None:
            raise RuntimeError("this generation was submitted outside an event loop; iterate it with `for`")
        while True:
            with self._ready:
                piece = self._pieces.popleft() if self._pieces else None
                if piece is None:
                    self._wake.clear()
            if piece is None:
                await self._wake.wait()
                continue
            yield piece
            if piece.finish_reason is not None or piece.error is not None:
                return

    def result(self) -> Completion:
        """Block until done; the whole completion."""
        texts = []
        for piece in self:
            texts.append(piece.text)
            if piece.error is not None:
                raise EngineError(piece.error)
        return Completion("".join(texts), piece.finish_reason, piece.prompt_tokens, piece.completion_tokens)

    async def aresult(self) -> Completion:
        texts = []
        async for piece in self:
            texts.append(piece.text)
            if piece.error is not None:
                raise EngineError(piece.error)
        return Completion("".join(texts), piece.finish_reason, piece.prompt_tokens, piece.completion_tokens)


class TextReleaser:
    """Incremental detokenization with stop strings: ``add(token) -> (text, stopped)``.

    A byte-level tokenizer decodes half a UTF-8 character as U+FFFD; that text waits for the
    next token. Released text never contains a stop string nor anything after it, and text that
    could still be the start of a stop string waits (``flush()`` releases it at the end).
    """

    def __init__(self, tokenizer, stop: Sequence[str]) -> None:
        self.tokenizer = tokenizer
        self.stop = tuple(stop)
        self.tokens: list[int] = []
        self._prefix_offset = 0
        self._read_offset = 0
        self._pending = ""

    def _decode(self, tokens: list[int]) -> str:
        return self.tokenizer.decode(tokens, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def add(self, token: int) -> tuple[str, bool]:
        self.tokens.append(token)
        before = self._decode(self.tokens[self._prefix_offset : self._read_offset])
        after = self._decode(self.tokens[self._prefix_offset :])
        if len(after) <= len(before) or after.endswith("\ufffd"):
            return "", False
        self._prefix_offset, self._read_offset = self._read_offset, len(self.tokens)
        return self._release(after[len(before) :])

    def _release(self, new_text: str) -> tuple[str, bool]:
        text = self._pending + new_text
        if not self.stop:
            self._pending = ""
            return text, False
        hits = [index for index in (text.find(stop) for stop in self.stop) if index >= 0]
        if hits:
            self._pending = ""
            return text[: min(hits)], True
        hold = max(
            (
                size
                for stop in self.stop
                for size in range(min(len(stop) - 1, len(text)), 0, -1)
                if text.endswith(stop[:size])
            ),
            default=0,
        )
        self._pending = text[len(text) - hold :] if hold else ""
        return text[: len(text) - hold], False

    def finish(self) -> str:
        """The rest of the text at the end of generation, cut at a stop string if one completes now."""
        before = self._decode(self.tokens[self._prefix_offset : self._read_offset])
        after = self._decode(self.tokens[self._prefix_offset :])
        self._prefix_offset = self._read_offset = len(self.tokens)
        text, stopped = self._release(after[len(before) :] if len(after) > len(before) else "")
        if stopped:
            return text
        pending, self._pending = self._pending, ""
        return text + pending


@dataclass
class _Row:
    """One active request in the batch."""

    generation: Generation
    releaser: TextReleaser
    generator: torch.Generator | None
    position: int
    """Tokens of this request in the cache (its next position id)."""
    generated: list[int] = field(default_factory=list)


def top_p_order(probs: np.ndarray, top_p: float) -> tuple[np.ndarray, np.ndarray, int]:
    """One row: ``-probs`` sorted (so the most likely token comes first), the mass up to each rank (float64),
    and how many ranks the top-p set takes: the fewest most likely tokens whose mass reaches ``top_p``
    (found on the running sum as torch's float32 cumsum gives it), with any tied with the last of them.

    numpy's vectorized sort takes ~0.6 ms for a 131k vocabulary on a CPU core; torch.sort ~18 ms, and the
    bisection this replaced (30 masked sums) ~10-18 ms, per row and step.
    """
    negated = np.sort(-probs)  # negation is exact: ties and values stay as they are
    running = torch.from_numpy(negated).cumsum(0, dtype=torch.float64).neg_().numpy()
    needed = int(np.searchsorted(running.astype(np.float32), np.float32(top_p)))  # ranks whose sum is < top_p
    last = negated[min(needed, len(negated) - 1)]
    return negated, running, int(np.searchsorted(negated, last, side="right"))


def local_model_folder(model: str) -> Path | None:
    """The checkpoint folder ``model`` names, or None for a hub id (``org/name``).

    Something that looks like a path (absolute, ``./``, ``~``, more than one ``/``) and is not a
    folder is an error here, not a hub id to retry against the network for a minute."""
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise EngineError(f"--model {model}: the folder {path} is not a model checkpoint (no config.json)")
        return path
    if path.exists():
        raise EngineError(f"--model {model}: {path} is a file; give the checkpoint's folder")
    if path.is_absolute() or model.startswith((".", "~")) or model.count("/") > 1:
        raise EngineError(f"--model {model}: no such folder (a hub id looks like org/name)")
    return None


class Engine:
    """``Engine(model, tokenizer).start()``, then ``submit(prompt_ids, SamplingParams(...))``; ``stop()`` at the end."""

    def __init__(
        self,
        model,
        tokenizer,
        *,
        name: str = "model",
        max_batch_size: int = 16,
        max_waiting: int = 256,
        logits_processor: LogitsProcessor | None = None,
        seed: int | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.max_batch_size = max_batch_size
        self.max_waiting = max_waiting
        self.logits_processor = logits_processor
        self.device = next(model.parameters()).device
        self.context_length = int(getattr(model.config, "max_position_embeddings", 0) or 4096)
        eos = model.generation_config.eos_token_id if model.generation_config is not None else None
        if eos is None:
            eos = tokenizer.eos_token_id
        self.eos_ids = frozenset([eos] if isinstance(eos, int) else (eos or []))
        self._shared_generator = torch.Generator(device="cpu").manual_seed(
            seed if seed is not None else int.from_bytes(os.urandom(8), "little") >> 1
        )
        self._ids = itertools.count(1)
        self._waiting: queue.Queue[Generation] = queue.Queue()
        self._rows: list[_Row] = []
        self._cache = None
        self._mask: torch.Tensor | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._stats_lock = threading.Lock()
        self.stats = collections.Counter()
        self._text_tokenizer = _text_tokenizer(tokenizer)

    # ---- loading

    @classmethod
    def load(
        cls, model: str, *, device: str = "cpu", dtype: str = "auto", threads: int | None = None, **options
    ) -> Engine:
        """Load ``model`` (a local folder or a hub id) with transformers; errors name the model and the cause."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if threads:
            torch.set_num_threads(threads)
        if dtype == "auto":
            torch_dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        elif dtype in DTYPES:
            torch_dtype = DTYPES[dtype]
        else:
            raise EngineError(f"--dtype {dtype!r}: choose auto, {', '.join(DTYPES)}")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise EngineError(f"--device {device}: this torch build has no CUDA device available")
        folder = local_model_folder(model)
        source = str(folder) if folder is not None else model
        try:  # a local folder never touches the hub: no request, no retries when offline
            tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=folder is not None)
            loaded = AutoModelForCausalLM.from_pretrained(
                source, dtype=torch_dtype, local_files_only=folder is not None
            )
        except (OSError, ValueError) as error:
            raise EngineError(f"cannot load model {model!r}: {error}") from error
        loaded.to(device).eval()
        return cls(loaded, tokenizer, name=options.pop("name", None) or model, **options)

    # ---- prompts

    def chat_prompt(self, messages: list[dict]) -> list[int]:
        """Token ids of ``messages`` rendered by the tokenizer's chat template, ready for the assistant turn.

        Text in the messages is encoded as text: a control-token string a user types (``<|user_end|>``)
        never becomes a control token, only those the template writes do (transformers'
        ``sanitize_control_tokens``). Roles are checked here because a template may build control
        tokens from them (``<|{{ role }}|>``)."""
        from jinja2 import TemplateError

        template = getattr(self.tokenizer, "chat_template", None) or apertus_chat_template(self.tokenizer)
        if not template:
            raise EngineError(
                f"model {self.name!r} has no chat template and no Apertus control tokens; use /v1/completions"
            )
        for message in messages:
            if message.get("role") not in CHAT_ROLES:
                raise EngineError(f"message role {message.get('role')!r} is not one of {', '.join(CHAT_ROLES)}")
        try:
            ids = self.tokenizer.apply_chat_template(
                messages,
                chat_template=template,
                add_generation_prompt=True,
                tokenize=True,
                return_dict=False,
                sanitize_control_tokens=True,
            )
        except TemplateError as error:  # the template's raise_exception: messages it cannot render
            raise EngineError(f"model {self.name!r}: the chat template refused the messages: {error}") from error
        return list(ids)

    def text_prompt(self, text: str) -> list[int]:
        """Token ids of a plain prompt, with the tokenizer's special tokens added; special-token strings in
        ``text`` are encoded as text (a prompt that needs control tokens is sent as token ids)."""
        if self._text_tokenizer is not None:
            return list(self._text_tokenizer.encode(text, add_special_tokens=True).ids)
        return list(self.tokenizer(text, add_special_tokens=True, split_special_tokens=True)["input_ids"])

    # ---- requests

    def submit(self, prompt_ids: list[int], params: SamplingParams) -> Generation:
        """Queue a request. ValueError when it cannot fit the context, EngineOverloaded when the queue is full."""
        if not prompt_ids:
            raise ValueError("the prompt is empty")
        if len(prompt_ids) + params.max_tokens > self.context_length:
            raise ValueError(
                f"the prompt ({len(prompt_ids)} tokens) plus max_tokens ({params.max_tokens}) exceeds "
                f"the model's context of {self.context_length} tokens"
            )
        if self._thread is None or not self._thread.is_alive():
            raise EngineError("the engine is not running")
        if self._waiting.qsize() >= self.max_waiting:
            raise EngineOverloaded(f"{self.max_waiting} requests are already waiting")
        generation = Generation(next(self._ids), list(prompt_ids), params)
        self._waiting.put(generation)
        self._count(requests=1)
        return generation

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def load_report(self) -> dict:
        return {"active": len(self._rows), "waiting": self._waiting.qsize()}

    def _count(self, **counts: int) -> None:
        with self._stats_lock:
            self.stats.update(counts)

    # ---- the loop

    def start(self) -> Engine:
        if self.running():
            return self
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="apertus-engine", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the current step, then end every request (an error piece) and the thread."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> Engine:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _run(self) -> None:
        with torch.inference_mode():
            while not self._stopping.is_set():
                try:
                    self._admit()
                    self._drop_cancelled()
                    if self._rows:
                        self._decode_step()
                except Exception as error:  # never a hung request: fail the batch, keep serving
                    logger.exception("engine step failed")
                    self._fail_all(f"the engine failed: {type(error).__name__}: {error}")
        self._fail_all("the server is shutting down")
        while True:
            try:
                self._waiting.get_nowait().push(Piece("", error="the server is shutting down"))
            except queue.Empty:
                break

    def _admit(self) -> None:
        """Take waiting requests into the batch: prefilled together, in groups of similar prompt length."""
        arrivals: list[Generation] = []
        while len(self._rows) + len(arrivals) < self.max_batch_size:
            try:
                idle = not self._rows and not arrivals
                generation = self._waiting.get(timeout=0.05) if idle else self._waiting.get_nowait()
            except queue.Empty:
                break
            if generation.cancelled.is_set():
                self._count(cancelled=1)
                continue
            arrivals.append(generation)
        for group in _similar_lengths(arrivals):
            self._prefill_or_fail(group)

    def _prefill_or_fail(self, group: list[Generation]) -> None:
        """Prefill a group; when that fails, each request alone, so only the one that fails gets the error."""
        try:
            self._prefill(group)
        except Exception as error:
            if len(group) > 1:
                for generation in group:
                    self._prefill_or_fail([generation])
                return
            logger.exception("prefill failed")
            group[0].push(Piece("", error=f"the engine failed: {type(error).__name__}: {error}"))

    def _prefill(self, group: list[Generation]) -> None:
        """One forward over the group's prompts (left-padded), then the group joins the batch."""
        from transformers import DynamicCache

        width = max(len(generation.prompt_ids) for generation in group)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids = torch.full((len(group), width), pad, dtype=torch.long, device=self.device)
        mask = torch.zeros_like(ids)
        for index, generation in enumerate(group):
            ids[index, width - len(generation.prompt_ids) :] = torch.tensor(generation.prompt_ids)
            mask[index, width - len(generation.prompt_ids) :] = 1
        cache = DynamicCache(config=self.model.config)
        padded = {"attention_mask": mask, "position_ids": (mask.cumsum(-1) - 1).clamp(min=0)} if len(group) > 1 else {}
        logits = self.model(input_ids=ids, cache=cache, use_cache=True, logits_to_keep=1, **padded).logits[:, -1]
        rows = [
            _Row(
                generation,
                TextReleaser(self.tokenizer, generation.params.stop),
                None
                if generation.params.seed is None
                else torch.Generator(device="cpu").manual_seed(generation.params.seed),
                len(generation.prompt_ids),
            )
            for generation in group
        ]
        self._join(cache, mask)
        self._rows.extend(rows)
        self._count(prompt_tokens=int(mask.sum()), prefills=1)
        self._advance(rows, logits)

    def _decode_step(self) -> None:
        last = torch.tensor([[row.generated[-1]] for row in self._rows], device=self.device)
        positions = torch.tensor([[row.position] for row in self._rows], device=self.device)
        mask = torch.cat([self._mask, self._mask.new_ones(len(self._rows), 1)], dim=1)
        logits = self.model(
            input_ids=last, attention_mask=mask, position_ids=positions, cache=self._cache, use_cache=True
        ).logits[:, -1]
        self._mask = mask
        for row in self._rows:
            row.position += 1
        self._advance(list(self._rows), logits)
        self._count(steps=1, batched_rows=len(self._rows))

    def _advance(self, rows: list[_Row], logits: torch.Tensor) -> None:
        """Sample one token per row, release its text, and retire the rows that finished."""
        tokens = self._sample(rows, logits.float())
        self._count(completion_tokens=len(rows))
        finished = []
        for row, token in zip(rows, tokens, strict=True):
            row.generated.append(token)
            params = row.generation.params
            done = None
            if token in self.eos_ids and not params.ignore_eos:
                text, done = row.releaser.finish(), "stop"
            else:
                text, stopped = row.releaser.add(token)
                if stopped:
                    done = "stop"
                elif len(row.generated) >= params.max_tokens or row.position + 1 >= self.context_length:
                    text, done = text + row.releaser.finish(), "length"
            if done is None:
                if text:
                    row.generation.push(Piece(text))
                continue
            row.generation.push(Piece(text, done, len(row.generation.prompt_ids), len(row.generated)))
            finished.append(row)
        if finished:
            self._remove(finished)

    def _sample(self, rows: list[_Row], logits: torch.Tensor) -> list[int]:
        """One token per row: greedy at temperature 0, else drawn from the row's top-p set with its generator.

        Per sampled row: sort (numpy), then one uniform draw placed on the running mass of the top-p set
        in rank order (inverse CDF). torch.multinomial would draw one exponential per vocabulary entry,
        ~4 ms a row for 131k on a CPU core.
        """
        if self.logits_processor is not None:
            for index, row in enumerate(rows):
                seen = torch.tensor([row.generation.prompt_ids + row.generated], device=logits.device)
                logits[index : index + 1] = self.logits_processor(seen, logits[index : index + 1])
        params = [row.generation.params for row in rows]
        if all(param.temperature == 0 for param in params):
            return logits.argmax(dim=-1).tolist()
        temperatures = torch.tensor([param.temperature for param in params], device=logits.device)
        probs = torch.softmax(logits / temperatures.clamp(min=1e-5).unsqueeze(-1), dim=-1).cpu().numpy()
        tokens = []
        for index, (row, param) in enumerate(zip(rows, params, strict=True)):
            if param.temperature == 0:
                tokens.append(int(logits[index].argmax()))
                continue
            negated, running, size = top_p_order(probs[index], param.top_p)
            if param.top_p >= 1:
                size = int(np.searchsorted(negated, 0.0))  # every token with some probability
            mass = running[size - 1] if size else float("nan")
            if not 0 < mass < float("inf"):
                raise ValueError("the token probabilities are not finite (invalid logits)")
            uniform = float(torch.rand(1, generator=row.generator or self._shared_generator, dtype=torch.float64))
            rank = min(int(np.searchsorted(running[:size], uniform * mass, side="right")), size - 1)
            # the token at that rank: tokens of equal probability take their ranks in vocabulary order
            first = int(np.searchsorted(negated, negated[rank]))
            tokens.append(int(np.flatnonzero(probs[index] == -negated[rank])[rank - first]))
        return tokens

    # ---- the batch's cache

    def _join(self, cache, mask: torch.Tensor) -> None:
        """Append prefilled requests' cache (and their padding ``mask``) to the batch, left-padding the narrower."""
        if self._cache is None or not self._rows:
            self._cache, self._mask = cache, mask
            return
        width = max(self._mask.shape[1], mask.shape[1])
        batch_pad, new_pad = width - self._mask.shape[1], width - mask.shape[1]
        for mine, theirs in zip(self._cache.layers, cache.layers, strict=True):
            mine.keys = torch.cat([_pad_left(mine.keys, batch_pad), _pad_left(theirs.keys, new_pad)])
            mine.values = torch.cat([_pad_left(mine.values, batch_pad), _pad_left(theirs.values, new_pad)])
        self._mask = torch.cat(
            [torch.nn.functional.pad(self._mask, (batch_pad, 0)), torch.nn.functional.pad(mask, (new_pad, 0))]
        )

    def _remove(self, rows: list[_Row]) -> None:
        gone = {id(row) for row in rows}
        keep = [index for index, row in enumerate(self._rows) if id(row) not in gone]
        self._rows = [self._rows[index] for index in keep]
        if not self._rows:
            self._cache = self._mask = None
            return
        index = torch.tensor(keep, device=self.device)
        self._mask = self._mask[index]
        unused = int((self._mask.sum(dim=0) == 0).cumprod(dim=0).sum())  # leading columns nobody needs
        self._mask = self._mask[:, unused:]
        for layer in self._cache.layers:
            layer.keys = layer.keys[index, :, unused:]
            layer.values = layer.values[index, :, unused:]

    def _drop_cancelled(self) -> None:
        cancelled = [row for row in self._rows if row.generation.cancelled.is_set()]
        if cancelled:
            self._count(cancelled=len(cancelled))
            self._remove(cancelled)

    def _fail_all(self, message: str) -> None:
        for row in self._rows:
            row.generation.push(Piece("", error=message))
        self._rows, self._cache, self._mask = [], None, None


def _text_tokenizer(tokenizer):
    """A private copy of a fast tokenizer's backend that encodes special-token strings as text.

    A copy, set once: switching ``split_special_tokens`` per call mutates the shared backend, which the
    engine thread reads (decoding) while requests are encoded in worker threads. None for a slow tokenizer.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None
    from tokenizers import Tokenizer

    copy = Tokenizer.from_str(backend.to_str())
    copy.no_truncation()
    copy.no_padding()
    copy.encode_special_tokens = True
    return copy


def _similar_lengths(generations: list[Generation], waste: float = 0.25) -> list[list[Generation]]:
    """Groups to prefill together, by prompt length, so that padding adds at most ``waste`` of the group's
    tokens (plus a little): a 20-token prompt is not padded to 4,000."""
    groups: list[list[Generation]] = []
    for generation in sorted(generations, key=lambda item: len(item.prompt_ids)):
        if groups:
            group = groups[-1]
            tokens = sum(len(item.prompt_ids) for item in group) + len(generation.prompt_ids)
            if len(generation.prompt_ids) * (len(group) + 1) <= tokens * (1 + waste) + 16:
                group.append(generation)
                continue
        groups.append([generation])
    return groups


def _pad_left(states: torch.Tensor, width: int) -> torch.Tensor:
    """``[batch, heads, seq, dim]`` with ``width`` zero positions before ``seq``."""
    return torch.nn.functional.pad(states, (0, 0, width, 0)) if width else states
