"""Gateway behaviour under 429, 5xx, timeouts, malformed JSON and dead servers.

Runs the real openai SDK against FakeModelServer (replies written in each test).
"""

from __future__ import annotations

import time

import pytest
from pydantic import BaseModel

from coach.gateway import (
    Gateway,
    GatewayError,
    ModelRateLimited,
    ModelTimeout,
    ModelUnavailable,
    StructuredOutputError,
    response_format_for,
)
from coach.local_server import LocalModelServer, LocalServerError
from coach.prompts import load_prompt
from tests.fakes import FakeModelServer

MSG = [{"role": "user", "content": "hi"}]


class Item(BaseModel):
    text: str
    count: int


def gateway(make_settings, fake, logs=None, **kw):
    s = make_settings(backend="compatible", base_url=fake.base_url, model="fake-model", **kw)
    return Gateway(s, on_call=(logs.append if logs is not None else None))


def test_429_is_retried_then_succeeds(make_settings):
    with FakeModelServer([("status", 429), ("status", 429), ("text", "ok now")]) as fake:
        logs = []
        reply = gateway(make_settings, fake, logs, max_retries=2).chat(MSG, purpose="t")
    assert reply.text == "ok now"
    assert len(fake.requests) == 3
    assert logs[-1].ok and logs[-1].prompt_tokens == 11 and logs[-1].completion_tokens == 2


def test_429_beyond_retries_is_a_clear_error(make_settings):
    with FakeModelServer([("status", 429)] * 3) as fake:
        logs = []
        with pytest.raises(ModelRateLimited, match="429"):
            gateway(make_settings, fake, logs, max_retries=1).chat(MSG, purpose="t")
    assert len(fake.requests) == 2  # first try + one retry
    assert logs[-1].ok is False and "429" in logs[-1].error


def test_500_is_retried(make_settings):
    with FakeModelServer([("status", 500), ("text", "fine")]) as fake:
        assert gateway(make_settings, fake, max_retries=1).chat(MSG, purpose="t").text == "fine"
    assert len(fake.requests) == 2


def test_timeout_retries_then_raises(make_settings):
    with FakeModelServer([("sleep", 2.0), ("sleep", 2.0)]) as fake:
        t0 = time.monotonic()
        with pytest.raises(ModelTimeout, match="did not answer within"):
            gateway(make_settings, fake, timeout=0.5, max_retries=1).chat(MSG, purpose="t")
        assert time.monotonic() - t0 < 5
    assert len(fake.requests) == 2


def test_dropped_connection_is_unavailable(make_settings):
    with FakeModelServer([("drop", None)] * 3) as fake:
        with pytest.raises(ModelUnavailable, match="Cannot reach"):
            gateway(make_settings, fake, max_retries=1).chat(MSG, purpose="t")


def test_nothing_listening_is_unavailable(make_settings):
    s = make_settings(backend="compatible", base_url="http://127.0.0.1:9/v1", model="m", max_retries=0)
    with pytest.raises(ModelUnavailable, match="COACH_BASE_URL"):
        Gateway(s).chat(MSG, purpose="t")


def test_stream_yields_deltas_and_logs_usage(make_settings):
    with FakeModelServer([("text", "one two three")]) as fake:
        logs = []
        parts = list(gateway(make_settings, fake, logs).stream(MSG, purpose="t"))
    assert "".join(parts).split() == ["one", "two", "three"]
    assert fake.requests[0]["stream"] is True
    assert logs[-1].ok and logs[-1].completion_tokens == 3


def test_structured_valid_first_time(make_settings):
    with FakeModelServer([("text", '{"text": "a", "count": 2}')]) as fake:
        out = gateway(make_settings, fake).structured(MSG, Item, purpose="t")
    assert out == Item(text="a", count=2)
    # llama.cpp form: json_object with the schema alongside
    fmt = fake.requests[0]["response_format"]
    assert fmt["type"] == "json_object" and fmt["schema"]["properties"]["count"]["type"] == "integer"


def test_structured_malformed_is_reasked_with_the_error(make_settings):
    with FakeModelServer([("text", '{"text": "a", "count": "many"}'), ("text", '{"text": "a", "count": 3}')]) as fake:
        out = gateway(make_settings, fake).structured(MSG, Item, purpose="t")
    assert out.count == 3
    reask = fake.requests[1]["messages"]
    assert reask[-2] == {"role": "assistant", "content": '{"text": "a", "count": "many"}'}
    assert "count" in reask[-1]["content"] and "not valid" in reask[-1]["content"]


def test_structured_malformed_twice_fails_cleanly(make_settings):
    with FakeModelServer([("text", "not json at all"), ("text", '{"text": 1}')]) as fake:
        with pytest.raises(StructuredOutputError, match="did not return valid Item JSON after 2 tries") as ei:
            gateway(make_settings, fake).structured(MSG, Item, purpose="t")
    assert ei.value.raw == '{"text": 1}'
    assert len(fake.requests) == 2


def test_openai_strict_json_schema_form():
    fmt = response_format_for(Item, "json_schema")
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    schema = fmt["json_schema"]["schema"]
    assert schema["additionalProperties"] is False and set(schema["required"]) == {"text", "count"}


def test_openai_backend_uses_strict_form_on_the_wire(make_settings):
    # The OpenAI backend pointed at the fake server via base_url: same wire format as api.openai.com.
    with FakeModelServer([("text", '{"text": "x", "count": 1}')]) as fake:
        s = make_settings(backend="openai", openai_api_key="sk-test-not-real", base_url=fake.base_url)
        Gateway(s).structured(MSG, Item, purpose="t")
    assert fake.requests[0]["response_format"]["type"] == "json_schema"
    assert fake.requests[0]["model"] == "gpt-4o-mini"


def test_prompt_id_and_hash_are_logged(make_settings):
    p = load_prompt("selftest")
    with FakeModelServer([("text", "hello")]) as fake:
        logs = []
        gateway(make_settings, fake, logs).chat(p.messages(question="hi?"), purpose="selftest", prompt=p)
    assert (logs[0].prompt_id, logs[0].prompt_hash) == ("selftest", p.hash)
    assert fake.requests[0]["messages"][0]["role"] == "system"
    assert fake.requests[0]["messages"][1] == {"role": "user", "content": "hi?"}


def test_local_server_missing_model_is_a_clear_error(tmp_path):
    srv = LocalModelServer(tmp_path / "nope.gguf", log_dir=tmp_path)
    with pytest.raises(LocalServerError, match="COACH_GGUF_PATH"):
        srv.ensure_running()


def test_local_server_bad_gguf_reports_the_log(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"this is not a gguf file")
    srv = LocalModelServer(bad, log_dir=tmp_path, start_timeout=60)
    with pytest.raises(LocalServerError, match="exited with code") as ei:
        srv.ensure_running()
    assert "Last lines of" in str(ei.value)
    assert not srv.is_alive()


def test_gateway_turns_local_start_failure_into_unavailable(make_settings, tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF?")
    g = Gateway(make_settings(backend="local", gguf_path=bad, local_start_timeout=60))
    with pytest.raises(ModelUnavailable, match="local model server"):
        g.chat(MSG, purpose="t")


PII = [{"role": "user", "content": "I'm ann.lee@shop.co.uk, call me on +44 20 7946 0958 about the 4 sessions."}]


def test_external_backends_get_redacted_text(make_settings):
    with FakeModelServer([("text", "ok")]) as fake:
        s = make_settings(backend="openai", openai_api_key="sk-test-not-real", base_url=fake.base_url)
        Gateway(s).chat(PII, purpose="t")
    sent = fake.requests[0]["messages"][0]["content"]
    assert sent == "I'm [email], call me on [phone] about the 4 sessions."


def test_local_models_and_opt_out_see_the_text_as_written(make_settings):
    with FakeModelServer([("text", "ok"), ("text", "ok")]) as fake:
        gateway(make_settings, fake).chat(PII, purpose="t")  # compatible server on 127.0.0.1: this machine
        s = make_settings(backend="openai", openai_api_key="sk-test-not-real", base_url=fake.base_url,
                          redact_external=False)
        Gateway(s).chat(PII, purpose="t")
    assert [r["messages"][0]["content"] for r in fake.requests] == [PII[0]["content"]] * 2


def test_stream_cut_mid_answer_raises_after_the_partial_text(make_settings):
    with FakeModelServer([("cut", "one two three four")]) as fake:
        logs = []
        parts = []
        with pytest.raises((ModelUnavailable, GatewayError)):
            for p in gateway(make_settings, fake, logs, max_retries=0).stream(MSG, purpose="t"):
                parts.append(p)
    assert "".join(parts).split() == ["one", "two", "three", "four"]  # what arrived before the cut
    assert logs[-1].ok is False
