"""The OpenAI-compatible HTTP API over the engine, with the deletion-list filter always mounted.

``build_app(engine, output_filter)`` returns the ASGI app that ``apertus-compliance serve`` runs
on uvicorn: ``POST /v1/chat/completions`` and ``POST /v1/completions`` (JSON or SSE streams),
``GET /v1/models``, ``GET /healthz``, ``GET /metrics``, ``POST /admin/reload``. The endpoints
write plain completions; redaction happens in the middleware around them, so the same filter
code runs here and in the proxy, and the routes see the path the middleware normalized. A
request body over ``max_request_bytes`` is answered 413 before it is read whole; parsing, the
chat template and tokenization run in a worker thread, never on the event loop. Every error is
an OpenAI-style error object.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Annotated, Any, Literal

import anyio.to_thread
import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from apertus_compliance.errors import ApertusError
from apertus_compliance.filters import MAX_REQUEST_BYTES, RequestBodyLimit, error_object
from apertus_compliance.serve.engine import (
    DEFAULT_TEMPERATURE,
    DEFAULT_TOP_P,
    Engine,
    EngineError,
    EngineOverloaded,
    Generation,
    SamplingParams,
)
from apertus_compliance.serve.metrics import ServerMetrics
from apertus_compliance.serve.output_filter import OutputFilter, admin_reload

logger = logging.getLogger(__name__)

COMPLETIONS_DEFAULT_MAX_TOKENS = 16
"""OpenAI's default for /v1/completions; chat completions default to the rest of the context."""
PATHS = ("/v1/chat/completions", "/v1/completions", "/v1/models", "/healthz", "/metrics", "/admin/reload")


class RequestError(ApertusError, ValueError):
    """A request the API refuses: ``status``, OpenAI ``code`` and ``param`` go into the error object."""

    def __init__(
        self, message: str, *, param: str | None = None, code: str = "invalid_value", status: int = 400
    ) -> None:
        super().__init__(message)
        self.param, self.code, self.status = param, code, status


class _Sampling(BaseModel):
    """Fields both endpoints share; unknown fields are ignored, as OpenAI clients send many."""

    model_config = ConfigDict(extra="ignore")

    model: str
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] = DEFAULT_TEMPERATURE
    top_p: Annotated[float, Field(gt=0, le=1)] = DEFAULT_TOP_P
    n: Literal[1] = 1
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    logprobs: Literal[False, None] | int = None

    @field_validator("stop")
    @classmethod
    def _stop(cls, value: str | list[str] | None) -> str | list[str] | None:
        stops = [value] if isinstance(value, str) else value or []
        if len(stops) > 4 or any(not stop for stop in stops):
            raise ValueError("at most 4 non-empty stop strings")
        return value

    def stops(self) -> tuple[str, ...]:
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())

    def include_usage(self) -> bool:
        return bool((self.stream_options or {}).get("include_usage"))


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: str
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if self.content is None or isinstance(self.content, str):
            return self.content or ""
        texts = []
        for part in self.content:
            if part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise RequestError(
                    f"content parts of type {part.get('type')!r} are not supported; send text", param="messages"
                )
            texts.append(part["text"])
        return "".join(texts)


class ChatRequest(_Sampling):
    messages: Annotated[list[ChatMessage], Field(min_length=1)]
    max_completion_tokens: Annotated[int, Field(ge=1)] | None = None
    tools: list[Any] | None = None


class CompletionRequest(_Sampling):
    prompt: str | Annotated[list[str], Field(min_length=1, max_length=1)] | Annotated[list[int], Field(min_length=1)]
    echo: Literal[False, None] = None
    suffix: Literal[None] = None


def error_response(
    message: str, *, status: int, code: str, param: str | None = None, kind: str = "invalid_request_error"
) -> JSONResponse:
    body = error_object(message, code, kind)
    body["error"]["param"] = param
    return JSONResponse(body, status_code=status)


def _parse(model: type[BaseModel], body: bytes) -> Any:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise RequestError(f"the request body is not valid JSON: {error}", code="invalid_json") from error
    if not isinstance(payload, dict):
        raise RequestError("the request body must be a JSON object", code="invalid_json")
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        first = error.errors()[0]
        param = ".".join(str(part) for part in first["loc"]) or None
        raise RequestError(f"{param}: {first['msg']}" if param else first["msg"], param=param) from error


class CompletionsAPI:
    """The endpoints over one engine; ``app`` is the Starlette app with them."""

    def __init__(self, engine: Engine, output_filter: OutputFilter, metrics: ServerMetrics) -> None:
        self.engine = engine
        self.output_filter = output_filter
        self.metrics = metrics
        self.created = int(time.time())

    # ---- requests

    def _check_model(self, request: _Sampling) -> None:
        if request.model != self.engine.name:
            raise RequestError(
                f"the model {request.model!r} does not exist; this server serves {self.engine.name!r}",
                param="model",
                code="model_not_found",
                status=404,
            )
        if request.logprobs:
            raise RequestError("logprobs are not supported (the filter would have to null them)", param="logprobs")

    def _sampling(self, request: _Sampling, prompt_ids: list[int], max_tokens: int | None) -> SamplingParams:
        room = self.engine.context_length - len(prompt_ids)
        if room < 1:
            raise RequestError(
                f"the prompt has {len(prompt_ids)} tokens; the model's context is {self.engine.context_length}",
                param="messages",
                code="context_length_exceeded",
            )
        if max_tokens is not None and max_tokens > room:
            raise RequestError(
                f"max_tokens is {max_tokens}, but the prompt ({len(prompt_ids)} tokens) leaves room "
                f"for {room} in the model's context of {self.engine.context_length}",
                param="max_tokens",
                code="context_length_exceeded",
            )
        return SamplingParams(
            max_tokens=max_tokens or room,
            temperature=request.temperature,
            top_p=request.top_p,
            seed=request.seed,
            stop=request.stops(),
        )

    def _submit(self, prompt_ids: list[int], params: SamplingParams) -> Generation:
        try:
            return self.engine.submit(prompt_ids, params)
        except EngineOverloaded as error:
            raise RequestError(
                f"the server is busy: {error}; retry later", code="engine_overloaded", status=503
            ) from error
        except EngineError as error:
            raise RequestError(str(error), code="engine_unavailable", status=503) from error

    async def chat(self, request: Request) -> Response:
        parsed, prompt_ids = await anyio.to_thread.run_sync(self._chat_prompt, await request.body())
        params = self._sampling(parsed, prompt_ids, parsed.max_completion_tokens or parsed.max_tokens)
        generation = self._submit(prompt_ids, params)
        return await self._respond(request, generation, parsed, chat=True)

    def _chat_prompt(self, body: bytes) -> tuple[ChatRequest, list[int]]:
        """In a worker thread: the parsed request and its prompt ids (template and tokenizer are CPU work)."""
        parsed: ChatRequest = _parse(ChatRequest, body)
        self._check_model(parsed)
        if parsed.tools:
            raise RequestError("tools are not supported by the bundled engine", param="tools")
        messages = [{"role": message.role, "content": message.text()} for message in parsed.messages]
        try:
            return parsed, self.engine.chat_prompt(messages)
        except EngineError as error:
            raise RequestError(str(error), param="messages") from error
        except Exception as error:  # the chat template raised (e.g. it refuses a role order)
            raise RequestError(f"the chat template rejected the messages: {error}", param="messages") from error

    async def completions(self, request: Request) -> Response:
        parsed, prompt_ids = await anyio.to_thread.run_sync(self._text_prompt, await request.body())
        params = self._sampling(parsed, prompt_ids, parsed.max_tokens or COMPLETIONS_DEFAULT_MAX_TOKENS)
        generation = self._submit(prompt_ids, params)
        return await self._respond(request, generation, parsed, chat=False)

    def _text_prompt(self, body: bytes) -> tuple[CompletionRequest, list[int]]:
        """In a worker thread: the parsed request and its prompt ids (token ids as given, else the text encoded)."""
        parsed: CompletionRequest = _parse(CompletionRequest, body)
        self._check_model(parsed)
        prompt = parsed.prompt
        if isinstance(prompt, list) and isinstance(prompt[0], int):
            if max(prompt) >= self.engine.model.config.vocab_size or min(prompt) < 0:
                raise RequestError("prompt holds token ids outside the vocabulary", param="prompt")
            return parsed, list(prompt)
        return parsed, self.engine.text_prompt(prompt if isinstance(prompt, str) else prompt[0])

    # ---- responses

    async def _respond(self, request: Request, generation: Generation, parsed: _Sampling, *, chat: bool) -> Response:
        base = {
            "id": f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}",
            "created": int(time.time()),
            "model": self.engine.name,
        }
        if parsed.stream:
            return StreamingResponse(
                self._events(generation, base, chat, parsed.include_usage()),
                media_type="text/event-stream",
                headers={"cache-control": "no-cache"},
            )
        completion = await _until_done_or_gone(request, generation)
        if completion is None:
            return Response(status_code=499)  # nobody is listening
        self._observe_first_token(generation)
        if chat:
            choice = {
                "index": 0,
                "message": {"role": "assistant", "content": completion.text},
                "logprobs": None,
                "finish_reason": completion.finish_reason,
            }
        else:
            choice = {"index": 0, "text": completion.text, "logprobs": None, "finish_reason": completion.finish_reason}
        usage = {
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
            "total_tokens": completion.prompt_tokens + completion.completion_tokens,
        }
        return JSONResponse(
            {**base, "object": "chat.completion" if chat else "text_completion", "choices": [choice], "usage": usage}
        )

    async def _events(self, generation: Generation, base: dict, chat: bool, include_usage: bool):
        object_name = "chat.completion.chunk" if chat else "text_completion"

        def event(choices: list[dict], **extra) -> bytes:
            return b"data: " + orjson.dumps({**base, "object": object_name, "choices": choices, **extra}) + b"\n\n"

        def choice(text: str | None, finish: str | None = None, role: bool = False) -> dict:
            if not chat:
                return {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish}
            delta = {"role": "assistant"} if role else {}
            if text is not None:
                delta["content"] = text
            return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}

        try:
            if chat:
                yield event([choice("", role=True)])
            async for piece in generation:
                if piece.error is not None:
                    yield b"data: " + orjson.dumps(error_object(piece.error, "engine_error")) + b"\n\n"
                    break
                if piece.finish_reason is None:
                    yield event([choice(piece.text)])
                    continue
                self._observe_first_token(generation)
                yield event([choice(piece.text or None, piece.finish_reason)])
                if include_usage:
                    usage = {
                        "prompt_tokens": piece.prompt_tokens,
                        "completion_tokens": piece.completion_tokens,
                        "total_tokens": piece.prompt_tokens + piece.completion_tokens,
                    }
                    yield event([], usage=usage)
            yield b"data: [DONE]\n\n"
        finally:  # also when the client went away and Starlette cancelled this generator
            generation.cancel()

    def _observe_first_token(self, generation: Generation) -> None:
        if generation.first_token_at is not None:
            self.metrics.first_token.observe(generation.first_token_at - generation.submitted_at)

    # ---- the rest

    async def models(self, request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {
                        "id": self.engine.name,
                        "object": "model",
                        "created": self.created,
                        "owned_by": "apertus-compliance",
                    }
                ],
            }
        )

    async def health(self, request: Request) -> JSONResponse:
        engine_ok = self.engine.running()
        filter_ok = self.output_filter.available()
        body = {
            "status": "ok" if engine_ok and filter_ok else "unavailable",
            "model": self.engine.name,
            "engine": {"running": engine_ok, **self.engine.load_report()},
            "deletion_list": self.output_filter.status(),
        }
        return JSONResponse(body, status_code=200 if engine_ok and filter_ok else 503)


async def _until_done_or_gone(request: Request, generation: Generation):
    """The completion, or None (and the request cancelled) when the client disconnects first."""

    async def client_gone() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    result = asyncio.ensure_future(generation.aresult())
    gone = asyncio.ensure_future(client_gone())
    try:
        await asyncio.wait({result, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:  # also when this handler itself is cancelled
        gone.cancel()
        if not result.done():
            generation.cancel()
            result.cancel()
    return None if result.cancelled() else result.result()


def _handling_errors(endpoint):
    async def handled(request: Request) -> Response:
        try:
            return await endpoint(request)
        except RequestError as error:
            return error_response(str(error), status=error.status, code=error.code, param=error.param)
        except EngineError as error:
            logger.warning("engine error: %s", error)
            return error_response(str(error), status=500, code="engine_error", kind="server_error")

    return handled


async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
    """Unknown paths and wrong methods answer in OpenAI's error shape too."""
    code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
    return error_response(f"{request.method} {request.url.path}: {error.detail}", status=error.status_code, code=code)


def build_app(
    engine: Engine, output_filter: OutputFilter, *, start: bool = True, max_request_bytes: int = MAX_REQUEST_BYTES
) -> Any:
    """The ASGI app: metrics around the request-body limit around the filter middleware around the
    endpoints. With ``start``, the app's lifespan starts the engine and the list refresher and stops
    them at shutdown."""
    metrics = ServerMetrics(output_filter, engine, paths=PATHS)
    api = CompletionsAPI(engine, output_filter, metrics)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if start:
            engine.start()
            output_filter.start()
        try:
            yield
        finally:
            if start:
                output_filter.stop()
                engine.stop()

    routes = [
        Route("/v1/chat/completions", _handling_errors(api.chat), methods=["POST"]),
        Route("/v1/completions", _handling_errors(api.completions), methods=["POST"]),
        Route("/v1/models", api.models, methods=["GET"]),
        Route("/healthz", api.health, methods=["GET"]),
        Route("/metrics", metrics.endpoint, methods=["GET"]),
        Route("/admin/reload", admin_reload, methods=["POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _http_error})
    app.state.output_filter = output_filter
    return metrics.measure(RequestBodyLimit(output_filter.wrap(app), max_request_bytes))
