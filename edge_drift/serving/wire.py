"""OpenAI's chat-completions wire format: request parsing with OpenAI-style errors, response and chunk bodies."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from ..decoding import Event, SamplingSettings
from ..errors import EdgeDriftError
from ..strategies import DEFAULT_STRATEGY, STRATEGY_NAMES, check_knob

MODEL_PREFIX = "edge-drift"


class ApiError(Exception):
    """An error with OpenAI's body: {"error": {"message", "type", "param", "code"}}."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 type: str = "invalid_request_error", headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.type = status, message, param, code, type
        self.headers = headers or {}

    def body(self) -> dict:
        return error_body(self.message, self.type, self.param, self.code)


def error_body(message: str, type: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def as_api_error(exc: Exception) -> ApiError:
    """The library's one-line errors become OpenAI error bodies; anything else is a 500 that says so."""
    from ..errors import ContextOverflowError, ProfileNotFoundError

    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, ContextOverflowError):
        return bad(str(exc), "messages", "context_length_exceeded")
    if isinstance(exc, ProfileNotFoundError):
        return ApiError(404, str(exc), code="profile_not_found")
    if isinstance(exc, EdgeDriftError):
        return bad(str(exc))
    return ApiError(500, f"internal error: {type(exc).__name__}: {exc}", type="server_error")


def bad(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


def check_body_knob(knob: str, value) -> None:
    """A steering number from a request body, checked by the CLI's rule; the 400 names the field, not the flag."""
    try:
        check_knob(knob, value)
    except EdgeDriftError as exc:
        raise bad(str(exc).replace(f"--{knob.replace('_', '-')}", knob), knob) from None


def client_defaults() -> dict:
    """The library's defaults that a client (the page) starts from, so that each has one owner."""
    from dataclasses import asdict

    from ..decoding import COMPARE_MAX_TOKENS, VARIED_TEMPERATURE
    from ..profile import DEFAULT_BETA

    sampling = {k: v for k, v in asdict(SamplingSettings()).items() if k not in ("stop", "grammar", "seed")}
    return {"strategy": DEFAULT_STRATEGY, "beta": DEFAULT_BETA, "sampling": sampling,
            "compare": {"temperature": VARIED_TEMPERATURE, "max_tokens": COMPARE_MAX_TOKENS}}


# -- models: one per way of answering ---------------------------------------------------------------
def model_names() -> list[str]:
    """`edge-drift` (the default strategy) and `edge-drift-<strategy>` for every strategy, plain included."""
    return [MODEL_PREFIX] + [f"{MODEL_PREFIX}-{name}" for name in STRATEGY_NAMES]


def strategy_of(model: str) -> str:
    if model == MODEL_PREFIX:
        return DEFAULT_STRATEGY
    name = model[len(MODEL_PREFIX) + 1:] if model.startswith(MODEL_PREFIX + "-") else None
    if name not in STRATEGY_NAMES:
        raise ApiError(404, f"model {model!r} does not exist; choose one of {', '.join(model_names())} "
                            "(GET /v1/models lists them)", param="model", code="model_not_found")
    return name


# -- request schemas, for the OpenAPI document (clients and fuzzers read them; parse_* below enforce them) ----
MESSAGE_SCHEMA = {"type": "object", "required": ["role", "content"], "properties": {
    "role": {"enum": ["system", "developer", "user", "assistant"]},
    "content": {"anyOf": [{"type": "string"}, {"type": "array", "items": {
        "type": "object", "required": ["type", "text"],
        "properties": {"type": {"const": "text"}, "text": {"type": "string"}}}}]}}}
CHAT_REQUEST_SCHEMA = {"type": "object", "required": ["messages"], "properties": {
    "model": {"type": "string"}, "messages": {"type": "array", "minItems": 1, "items": MESSAGE_SCHEMA},
    "stream": {"type": "boolean"}, "stream_options": {"type": "object", "properties": {
        "include_usage": {"type": "boolean"}}},
    "max_tokens": {"type": "integer", "minimum": 1}, "max_completion_tokens": {"type": "integer", "minimum": 1},
    "temperature": {"type": "number", "minimum": 0, "maximum": 2},
    "top_p": {"type": "number", "minimum": 0, "maximum": 1}, "seed": {"type": "integer"},
    "stop": {"anyOf": [{"type": "string"}, {"type": "array", "maxItems": 4, "items": {"type": "string"}}]},
    "n": {"const": 1}, "user": {"type": "string"}, "tools": {"type": "array"},
    "tool_choice": {"enum": ["auto", "none"]}, "strategy": {"enum": list(STRATEGY_NAMES)},
    "beta": {"type": "number", "exclusiveMinimum": 0}, "top_attributes": {"type": "integer", "minimum": 1},
    "trim_history": {"type": "boolean"}, "lean": {"type": "string", "pattern": "^[+-][a-z][a-z0-9_]*$"}}}
PAIR_PROPERTIES = {"prompt": {"type": "string", "minLength": 1}, "chosen": {"type": "string", "minLength": 1},
                   "rejected": {"type": "string", "minLength": 1}, "system": {"type": "string"},
                   "messages": {"type": "array", "items": MESSAGE_SCHEMA}}
FEEDBACK_REQUEST_SCHEMA = {"anyOf": [
    {"type": "object", "required": ["prompt", "chosen", "rejected"],
     "properties": {"user": {"type": "string"}, **PAIR_PROPERTIES}},
    {"type": "object", "required": ["a", "b", "winner"],
     "properties": {"user": {"type": "string"}, "a": {"type": "string"}, "b": {"type": "string"},
                    "winner": {"enum": ["a", "b", "tie", "both_bad"]}}}]}
IMPORT_REQUEST_SCHEMA = {"type": "object", "required": ["pairs"], "properties": {
    "pairs": {"type": "array", "items": {"type": "object", "required": ["prompt", "chosen", "rejected"],
                                         "properties": PAIR_PROPERTIES}},
    "attributes": {"type": "array", "items": {"type": "string"}}, "top_k": {"type": "integer", "minimum": 1},
    "solver": {"type": "string"}, "beta": {"type": "number", "exclusiveMinimum": 0},
    "replace": {"type": "boolean"}}}
STATEMENT_REQUEST_SCHEMA = {"type": "object", "required": ["text"],
                            "properties": {"text": {"type": "string", "minLength": 1}}}


def json_body(schema: dict) -> dict:
    """FastAPI's openapi_extra for a route that reads its JSON body itself."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


# -- requests -----------------------------------------------------------------------------------------
@dataclass
class ChatCall:
    """A parsed chat-completions request: what to answer, how to sample, how to steer."""

    model: str
    strategy: str
    messages: list[dict]
    system: str | None
    settings: SamplingSettings
    stream: bool = False
    include_usage: bool = False
    user: str | None = None
    knobs: dict = field(default_factory=dict)
    trim_history: bool = False  # drop the oldest turns that do not fit (the web page) instead of a 400


def text_of(content, where: str) -> str:
    """A message's content: a string, or a list of text parts (what newer clients send)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for i, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise bad(f"{where}.content[{i}] is not a text part; this server reads text only", where)
            texts.append(part["text"])
        return "".join(texts)
    raise bad(f"{where}.content must be a string or a list of text parts", where)


def parse_messages(raw) -> tuple[list[dict], str | None]:
    """Split the client's messages into (conversation, the client's own system instructions)."""
    if not isinstance(raw, list) or not raw:
        raise bad("messages must be a non-empty list of {role, content}", "messages")
    turns, systems = [], []
    for i, message in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise bad(f"{where} must be an object with role and content", where)
        role = message.get("role")
        if role in ("system", "developer"):
            systems.append(text_of(message.get("content"), where))
        elif role in ("user", "assistant"):
            turns.append({"role": role, "content": text_of(message.get("content"), where)})
        else:
            raise bad(f"{where}.role {role!r} is not supported (tools are not); use system, user or assistant",
                      f"{where}.role")
    if not turns or turns[-1]["role"] != "user":
        raise bad("the last message must be the user's", "messages")
    system = "\n\n".join(s for s in systems if s.strip()) or None
    return turns, system


def number(body: dict, name: str, low: float, high: float | None = None, integer: bool = False):
    value = body.get(name)
    if value is None:
        return None
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value):
        raise bad(f"{name} must be {'an integer' if integer else 'a number'}", name)
    if value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"between {low} and {high}"
        raise bad(f"{name} must be {bounds}, got {value}", name)
    return value


def parse_stop(value) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(s, str) for s in value) and len(value) <= 4:
        return tuple(s for s in value if s)
    raise bad("stop must be a string or a list of up to 4 strings", "stop")


# A model may always answer in text when a call is merely allowed; only these choices demand one.
TEXT_ALLOWED_CHOICES = (None, "auto", "none")


def forces_a_tool_call(choice) -> bool:
    """True for `tool_choice` "required", a named function, or `allowed_tools` in required mode."""
    if choice in TEXT_ALLOWED_CHOICES:
        return False
    if isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        return (choice.get("allowed_tools") or {}).get("mode") == "required"
    return True


def check_tools(body: dict) -> None:
    """Offered tools are accepted and ignored (the model never calls one); a forced call is a 400.

    Open WebUI's chat page offers ~36 built-in tools with every request and no `tool_choice`: that
    asks for an answer, not a call. The schemas never enter the prompt (they would fill a small
    model's context and change the answer).
    """
    for name in ("tools", "functions"):
        if body.get(name) is not None and not isinstance(body[name], list):
            raise bad(f"{name} must be a list", name)
    if forces_a_tool_call(body.get("tool_choice")):
        raise bad("tool_choice forces a tool call, and this server's models answer in text only; "
                  'leave tool_choice out or send "auto" or "none"', "tool_choice", "unsupported_value")
    if forces_a_tool_call(body.get("function_call")):
        raise bad("function_call forces a function call, and this server's models answer in text only; "
                  'leave function_call out or send "auto" or "none"', "function_call", "unsupported_value")


def reject_unsupported(body: dict) -> None:
    """Fields this server cannot honour get a 400, never a silently different answer."""
    if body.get("n") not in (None, 1):
        raise bad("n must be 1: this server writes one answer per request", "n", "unsupported_value")
    check_tools(body)
    response_format = body.get("response_format")
    if response_format is not None and (not isinstance(response_format, dict) or response_format.get("type") != "text"):
        raise bad("response_format: only {\"type\": \"text\"} is supported", "response_format", "unsupported_value")


def parse_chat(body) -> ChatCall:
    """Validate a chat-completions body; unknown fields are accepted and ignored, as OpenAI clients expect."""
    if not isinstance(body, dict):
        raise bad("the body must be a JSON object")
    reject_unsupported(body)
    model = body.get("model") or MODEL_PREFIX
    if not isinstance(model, str):
        raise bad("model must be a string", "model")
    strategy = body.get("strategy") or strategy_of(model)
    if strategy not in STRATEGY_NAMES:
        raise bad(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGY_NAMES)}", "strategy")
    messages, system = parse_messages(body.get("messages"))
    max_tokens = number(body, "max_completion_tokens", 1, integer=True) or number(body, "max_tokens", 1, integer=True)
    given = {"max_tokens": max_tokens, "temperature": number(body, "temperature", 0, 2),
             "top_p": number(body, "top_p", 0, 1), "seed": number(body, "seed", -2**63, 2**64, integer=True)}
    if given["seed"] is not None:
        given["seed"] %= 2**32  # llama.cpp's sampler seed is 32-bit; OpenAI's is any integer
    settings = SamplingSettings(**{k: v for k, v in given.items() if v is not None}, stop=parse_stop(body.get("stop")))
    knobs = {knob: body.get(knob) for knob in ("beta", "top_attributes") if body.get(knob) is not None}
    for knob, value in knobs.items():
        check_body_knob(knob, value)
    lean = body.get("lean")
    if lean is not None:
        if not isinstance(lean, str) or lean[:1] not in ("+", "-") or strategy == "plain":
            raise bad('lean is "+NAME" or "-NAME" of an attribute (GET /v1/profiles/USER/question says which), '
                      "with a steering model", "lean")
        knobs["lean"] = lean
    stream_options = body.get("stream_options") or {}
    if not isinstance(stream_options, dict):
        raise bad("stream_options must be an object", "stream_options")
    user = body.get("user")
    return ChatCall(model=model, strategy=strategy, messages=messages, system=system, settings=settings,
                    stream=bool(body.get("stream")), include_usage=bool(stream_options.get("include_usage")),
                    user=user if isinstance(user, str) and user else None,  # some front ends send an object
                    knobs=knobs,
                    trim_history=body.get("trim_history") is True)


# -- responses ------------------------------------------------------------------------------------------
def usage(last: Event) -> dict:
    return {"prompt_tokens": last.n_prompt_tokens, "completion_tokens": last.n_tokens,
            "total_tokens": last.n_prompt_tokens + last.n_tokens}


def completion_body(completion_id: str, created: int, model: str, text: str, last: Event, extra: dict) -> dict:
    return {"id": completion_id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "logprobs": None, "finish_reason": last.finish_reason or "stop"}],
            "usage": usage(last), "edge_drift": extra}


class ChunkWriter:
    """The streamed form: role chunk, content chunks, finish chunk, optional usage chunk, [DONE]."""

    def __init__(self, completion_id: str, created: int, model: str, include_usage: bool):
        self.head = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model}
        self.include_usage = include_usage

    def _chunk(self, delta: dict, finish: str | None) -> bytes:
        data = {**self.head, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if self.include_usage:
            data["usage"] = None
        return sse(data)

    def role(self) -> bytes:
        return self._chunk({"role": "assistant", "content": ""}, None)

    def content(self, text: str) -> bytes:
        return self._chunk({"content": text}, None)

    def finish(self, last: Event) -> bytes:
        return self._chunk({}, last.finish_reason or "stop")

    def usage(self, last: Event) -> bytes:
        return sse({**self.head, "choices": [], "usage": usage(last)})


def sse(data) -> bytes:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


DONE = b"data: [DONE]\n\n"
