"""Wire-level gateway tests replayed from cassettes recorded against the real local server.

Re-record (starts the bundled llama-cpp-python server, overwrites tests/cassettes/*.yaml):

    COACH_RECORD_CASSETTES=1 python -m pytest tests/test_gateway_cassettes.py

Replay needs no server: requests match on method, path and body (not host or port, which
change with every server start), and nothing is listening at the replay base URL.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import vcr
from pydantic import BaseModel, Field

from coach.config import BUNDLED_GGUF_NAME
from coach.gateway import Gateway
from coach.prompts import load_prompt

CASSETTES = Path(__file__).parent / "cassettes"
RECORD = os.environ.get("COACH_RECORD_CASSETTES") == "1"

recorder = vcr.VCR(
    cassette_library_dir=str(CASSETTES),
    record_mode="all" if RECORD else "none",
    match_on=["method", "path", "body"],
    filter_headers=["authorization", "openai-organization", "openai-project"],
    decode_compressed_response=True,
)


class Colour(BaseModel):
    name: str = Field(max_length=40)
    hex: str = Field(max_length=12)


@pytest.fixture
def wire_gateway(make_settings, request):
    if RECORD:
        base = request.getfixturevalue("local_model_server").base_url
    else:
        base = "http://127.0.0.1:9/v1"  # nothing listens here: only the cassette can answer
    logs = []
    s = make_settings(backend="compatible", base_url=base, model=BUNDLED_GGUF_NAME,
                      structured_mode="json_object", max_retries=0)
    g = Gateway(s, on_call=logs.append)
    g.logs = logs
    return g


def test_stream_replay(wire_gateway):
    p = load_prompt("selftest")
    with recorder.use_cassette("local_stream.yaml") as cas:
        text = "".join(wire_gateway.stream(p.messages(question="Say hello."), purpose="selftest",
                                           prompt=p, max_tokens=16, temperature=0, seed=7))
    assert text.strip()
    assert cas.play_count == 1 or RECORD
    assert wire_gateway.logs[-1].completion_tokens > 1


def test_structured_replay(wire_gateway):
    with recorder.use_cassette("local_structured.yaml") as cas:
        out = wire_gateway.structured([{"role": "user", "content": "The colour red as JSON: name and hex code."}],
                                      Colour, purpose="test", max_tokens=60, temperature=0, seed=7)
    assert isinstance(out, Colour)
    sent = cas.requests[0]
    assert b'"response_format": {"type": "json_object", "schema"' in sent.body or b'"json_object"' in sent.body
    assert "authorization" not in {k.lower() for k in sent.headers}
