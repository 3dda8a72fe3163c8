"""The model gateway: every model call in coach goes through here, on the ``openai`` SDK.

Backends (chosen by configuration): OpenAI, any OpenAI-compatible base URL, and the embedded
llama-cpp-python server. The gateway gives

- ``chat`` and ``stream`` (text), ``structured`` (a validated pydantic object, re-asked once
  with the validation error, then a clean :class:`StructuredOutputError`);
- timeouts, and retries with backoff on 429/5xx/timeouts/connection errors (the SDK's own
  retry loop, which also honours ``Retry-After``);
- a restart of the local server if it died, then one more try;
- one call log entry per call (tokens, latency, outcome, prompt id and hash) via ``on_call``.

Errors are :class:`GatewayError` subclasses whose message tells the user what to do.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from urllib.parse import urlparse

import openai
from langchain_core.messages import BaseMessage, convert_to_openai_messages
from openai.types.chat import ChatCompletionMessageParam
from pydantic import BaseModel, ValidationError

from coach.config import Backend, Settings
from coach.local_server import LocalModelServer, LocalServerError
from coach.prompts import Prompt

T = TypeVar("T", bound=BaseModel)
Messages = Sequence[BaseMessage | dict]


class GatewayError(RuntimeError):
    """A model call failed; ``str(err)`` is a message fit for logs and admins."""


class ModelUnavailable(GatewayError):
    pass


class ModelTimeout(GatewayError):
    pass


class ModelRateLimited(GatewayError):
    pass


class StructuredOutputError(GatewayError):
    def __init__(self, message: str, raw: str | None = None):
        super().__init__(message)
        self.raw = raw


@dataclass
class Reply:
    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    model: str = ""


@dataclass
class CallLog:
    """What the gateway reports about each call (stored as a ``model_calls`` row)."""

    backend: str
    model: str
    purpose: str
    prompt_id: str | None
    prompt_hash: str | None
    latency_ms: float
    ok: bool
    attempts: int = 1
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error: str | None = None


def response_format_for(schema: type[BaseModel], mode: str) -> dict:
    """The ``response_format`` a backend understands for a pydantic schema."""
    if mode == "json_schema":  # OpenAI structured outputs (strict)
        from openai.lib._pydantic import to_strict_json_schema

        return {
            "type": "json_schema",
            "json_schema": {"name": schema.__name__, "schema": to_strict_json_schema(schema), "strict": True},
        }
    # llama-cpp-python's server: grammar-constrained JSON from a schema
    return {"type": "json_object", "schema": schema.model_json_schema()}


def to_openai_messages(messages: Messages) -> list[dict]:
    return [m if isinstance(m, dict) else convert_to_openai_messages(m) for m in messages]


EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
PHONE = re.compile(r"(?<![\w])(\+?\d[\d ()./-]{7,}\d)(?![\w])")


def redact(text: str) -> str:
    """E-mail addresses and phone numbers out of text bound for an external model."""
    return PHONE.sub("[phone]", EMAIL.sub("[email]", text))


def is_external(settings: Settings) -> bool:
    b = settings.resolved_backend
    if b is Backend.OPENAI:
        return True
    if b is Backend.COMPATIBLE:
        host = urlparse(settings.base_url or "").hostname or ""
        return host not in ("localhost", "127.0.0.1", "::1") and not host.startswith("127.")
    return False


class Gateway:
    def __init__(
        self,
        settings: Settings,
        *,
        on_call: Callable[[CallLog], None] | None = None,
        local_server: LocalModelServer | None = None,
    ):
        self.settings = settings
        self.backend = settings.resolved_backend
        self.model = settings.model_name
        self.structured_mode = settings.resolved_structured_mode
        self.on_call = on_call
        self.local_server = local_server
        if self.backend is Backend.LOCAL and self.local_server is None:
            self.local_server = LocalModelServer(
                settings.gguf, log_dir=settings.log_dir, n_ctx=settings.local_ctx,
                n_threads=settings.local_threads, start_timeout=settings.local_start_timeout,
            )
        self._client: openai.OpenAI | None = None
        self._client_url: str | None = None
        self.redacting = settings.redact_external and is_external(settings)

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def available(self) -> bool:
        return self.backend is not Backend.NONE

    @property
    def embedded(self) -> LocalModelServer:
        """The embedded model server, which exists exactly when the backend is the embedded one."""
        if self.local_server is None:
            raise ModelUnavailable(f"The {self.backend.value} backend has no embedded model server.")
        return self.local_server

    def client(self) -> openai.OpenAI:
        s = self.settings
        if self.backend is Backend.NONE:
            raise ModelUnavailable("No model backend is configured (COACH_BACKEND=none).")
        url: str | None
        key: str | None
        if self.backend is Backend.LOCAL:
            try:
                url, key = self.embedded.ensure_running(), "local"
            except LocalServerError as e:
                raise ModelUnavailable(str(e)) from e
        elif self.backend is Backend.OPENAI:
            url, key = s.base_url or None, s.openai_api_key
        else:
            url, key = s.base_url, s.api_key or "not-needed"
        if self._client is None or url != self._client_url:
            self._client = openai.OpenAI(
                api_key=key, base_url=url, timeout=s.call_timeout, max_retries=s.max_retries
            )
            self._client_url = url
        return self._client

    def _translate(self, e: Exception) -> GatewayError:
        where = f"{self.backend.value} backend ({self.model})"
        if self.backend is Backend.LOCAL and isinstance(e, (openai.APIConnectionError, ModelUnavailable)) \
                and not isinstance(e, openai.APITimeoutError):
            # the embedded server is ours: say how it ended, not where to point COACH_BASE_URL
            report = self.embedded.check()
            if report:
                return ModelUnavailable(report)
            if isinstance(e, openai.APIConnectionError):
                return ModelUnavailable(f"The embedded model server ({self.model}) did not answer: {e}. "
                                        f"Its log: {self.embedded.log_path}")
        if isinstance(e, openai.APITimeoutError):
            return ModelTimeout(f"The {where} did not answer within {self.settings.call_timeout:.0f}s (COACH_TIMEOUT), after {self.settings.max_retries} retries.")
        if isinstance(e, openai.RateLimitError):
            return ModelRateLimited(f"The {where} is rate-limiting requests (429) and still was after {self.settings.max_retries} retries.")
        if isinstance(e, openai.APIConnectionError):
            return ModelUnavailable(f"Cannot reach the {where}: {e}. Check that it is running and COACH_BASE_URL is right.")
        if isinstance(e, openai.AuthenticationError):
            return ModelUnavailable(f"The {where} refused the API key (401). Check OPENAI_API_KEY / COACH_API_KEY.")
        if isinstance(e, openai.APIStatusError):
            return ModelUnavailable(f"The {where} answered HTTP {e.status_code}: {e.message}")
        if isinstance(e, GatewayError):
            return e
        return GatewayError(f"The {where} failed: {e!r}")

    def _call(self, fn: Callable[[openai.OpenAI], Any]) -> Any:
        """Run ``fn(client)``; if the local server died, restart it and try once more."""
        try:
            return fn(self.client())
        except openai.APIConnectionError:
            if self.backend is Backend.LOCAL and not self.embedded.is_alive():
                return fn(self.client())  # client() restarts the server
            raise

    def _log(self, purpose: str, prompt: Prompt | None, t0: float, **kw) -> None:
        if kw.get("ok") and self.backend is Backend.LOCAL:
            self.embedded.answered()
        if self.on_call is None:
            return
        self.on_call(CallLog(
            backend=self.backend.value, model=self.model, purpose=purpose,
            prompt_id=prompt.id if prompt else None, prompt_hash=prompt.hash if prompt else None,
            latency_ms=(time.perf_counter() - t0) * 1000, **kw,
        ))

    # -- API --------------------------------------------------------------------------------

    def _outgoing(self, messages: Messages) -> list[ChatCompletionMessageParam]:
        msgs = to_openai_messages(messages)
        if self.redacting:
            msgs = [{**m, "content": redact(m["content"])} if isinstance(m.get("content"), str) else m for m in msgs]
        return cast("list[ChatCompletionMessageParam]", msgs)  # OpenAI-format dicts, by langchain's conversion

    def chat(self, messages: Messages, *, purpose: str, prompt: Prompt | None = None, **params) -> Reply:
        t0 = time.perf_counter()
        try:
            resp = self._call(lambda c: c.chat.completions.create(
                model=self.model, messages=self._outgoing(messages), **params))
        except Exception as e:
            err = self._translate(e)
            self._log(purpose, prompt, t0, ok=False, error=str(err))
            raise err from e
        usage = resp.usage
        reply = Reply(
            text=resp.choices[0].message.content or "",
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            model=resp.model or self.model,
        )
        self._log(purpose, prompt, t0, ok=True, prompt_tokens=reply.prompt_tokens,
                  completion_tokens=reply.completion_tokens)
        return reply

    def stream(self, messages: Messages, *, purpose: str, prompt: Prompt | None = None, **params) -> Iterator[str]:
        """Yield text deltas. A failure before or during the stream raises a GatewayError.

        Servers that send no usage in streams (llama.cpp) get one completion token per content
        chunk, which is what they stream.
        """
        t0 = time.perf_counter()
        usage, chunks, finished = None, 0, False
        try:
            stream = self._call(lambda c: c.chat.completions.create(
                model=self.model, messages=self._outgoing(messages), stream=True,
                stream_options={"include_usage": True}, **params))
            with stream:
                for chunk in stream:
                    if chunk.usage:
                        usage = chunk.usage
                    if chunk.choices and chunk.choices[0].finish_reason:
                        finished = True
                    if chunk.choices and chunk.choices[0].delta and chunk.choices[0].delta.content:
                        chunks += 1
                        yield chunk.choices[0].delta.content
            if not finished:
                # a server that dies mid-answer just closes the connection: the SDK ends the
                # stream quietly, so a missing finish_reason is the only sign of a cut answer
                raise ModelUnavailable(f"The {self.backend.value} backend ({self.model}) stopped mid-answer.")
        except Exception as e:
            err = self._translate(e)
            self._log(purpose, prompt, t0, ok=False, error=str(err))
            raise err from e
        self._log(purpose, prompt, t0, ok=True,
                  prompt_tokens=usage.prompt_tokens if usage else None,
                  completion_tokens=usage.completion_tokens if usage else chunks)

    def structured(
        self, messages: Messages, schema: type[T], *, purpose: str, prompt: Prompt | None = None,
        reasks: int = 1, usage: dict | None = None, **params,
    ) -> T:
        """Ask for JSON matching ``schema``; validate; re-ask with the error; then fail cleanly.

        ``usage``, if given, accumulates prompt and completion tokens over the tries."""
        msgs = to_openai_messages(messages)
        fmt = response_format_for(schema, self.structured_mode)
        if self.structured_mode == "json_object":
            # servers that ignore the schema field still see it in the prompt
            msgs = [{"role": "system", "content": "Reply with one JSON object matching this JSON schema:\n"
                     + json.dumps(schema.model_json_schema())}] + msgs
        raw = None
        for attempt in range(reasks + 1):
            reply = self.chat(msgs, purpose=purpose, prompt=prompt, response_format=fmt, **params)
            if usage is not None:
                for k in ("prompt_tokens", "completion_tokens"):
                    usage[k] = usage.get(k, 0) + (getattr(reply, k) or 0)
            raw = reply.text
            try:
                return schema.model_validate_json(raw)
            except ValidationError as e:
                problem = _short_validation_error(e)
            if attempt < reasks:
                msgs = msgs + [
                    {"role": "assistant", "content": raw},
                    {"role": "user", "content": f"That reply is not valid: {problem}\n"
                     "Reply again with only the corrected JSON object."},
                ]
        raise StructuredOutputError(
            f"The {self.backend.value} model ({self.model}) did not return valid {schema.__name__} JSON "
            f"after {reasks + 1} tries: {problem}", raw=raw,
        )


def _short_validation_error(e: ValidationError, limit: int = 5) -> str:
    parts = []
    for err in e.errors()[:limit]:
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)
