"""Integration: the real embedded llama-cpp-python server through the gateway."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field

from coach.gateway import Gateway
from coach.prompts import load_prompt

pytestmark = pytest.mark.slow


class Colour(BaseModel):
    name: str = Field(max_length=40)
    hex: str = Field(max_length=12)


@pytest.fixture
def local_gateway(make_settings, local_model_server):
    logs = []
    g = Gateway(make_settings(backend="local", max_retries=1), on_call=logs.append, local_server=local_model_server)
    g.logs = logs
    return g


def test_streaming_call(local_gateway):
    p = load_prompt("selftest")
    parts = list(local_gateway.stream(p.messages(question="Say hello."), purpose="selftest", prompt=p,
                                      max_tokens=16, temperature=0))
    assert len(parts) > 1 and "".join(parts).strip()
    log = local_gateway.logs[-1]
    assert log.ok and log.backend == "local" and log.completion_tokens == len(parts)


def test_structured_call(local_gateway):
    out = local_gateway.structured([{"role": "user", "content": "The colour red as JSON: name and hex code."}],
                                   Colour, purpose="test", max_tokens=60, temperature=0)
    assert isinstance(out, Colour)  # grammar-constrained by the schema, then validated
    log = local_gateway.logs[-1]
    assert log.ok and log.prompt_tokens > 0 and log.completion_tokens > 0


def test_dead_server_is_restarted(local_gateway, local_model_server):
    before = local_model_server.restarts
    local_model_server.kill()
    assert not local_model_server.is_alive()
    reply = local_gateway.chat([{"role": "user", "content": "Hi"}], purpose="test", max_tokens=4)
    assert reply.text is not None and local_model_server.is_alive()
    assert local_model_server.restarts == before + 1
