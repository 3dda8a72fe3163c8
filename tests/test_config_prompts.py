"""Configuration defaults, validation and per-step model policy; prompt files."""

from __future__ import annotations

import pytest

from coach.config import Backend, ConfigError, Settings, load_settings
from coach.prompts import PromptError, default_prompts_dir, load_prompt


def test_defaults_need_no_key_and_use_the_bundled_model(tmp_path, monkeypatch):
    monkeypatch.setenv("COACH_DATA_DIR", str(tmp_path))
    s = load_settings()
    assert s.resolved_backend is Backend.LOCAL and s.uses_bundled_model
    assert s.gguf is not None and s.gguf.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert s.sqlalchemy_url == f"sqlite:///{tmp_path / 'coach.db'}"
    assert [st for st in ("interview", "extraction", "suggestions") if s.step_uses_model(st)] == []


def test_openai_key_switches_auto_backend_and_steps_on(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real")
    s = load_settings()
    assert s.resolved_backend is Backend.OPENAI and s.model_name == "gpt-4o-mini"
    assert s.resolved_structured_mode == "json_schema"
    assert s.step_uses_model("extraction")
    assert not load_settings(extraction_model="off").step_uses_model("extraction")


def test_users_own_gguf_switches_steps_on(tmp_path):
    f = tmp_path / "big.gguf"
    f.write_bytes(b"x")
    s = load_settings(gguf_path=f)
    assert not s.uses_bundled_model and s.step_uses_model("interview")
    assert s.resolved_structured_mode == "json_object"


def test_bundled_model_can_be_forced_on_per_step():
    assert load_settings(interview_model="on").step_uses_model("interview")
    assert not load_settings(backend="none", interview_model="on").step_uses_model("interview")


@pytest.mark.parametrize("env,needle", [
    ({"COACH_BACKEND": "openai"}, "OPENAI_API_KEY"),
    ({"COACH_BACKEND": "compatible", "COACH_BASE_URL": "http://x/v1"}, "COACH_MODEL"),
    ({"COACH_BACKEND": "bogus"}, "COACH_BACKEND"),
    ({"COACH_TIMEOUT": "-1"}, "COACH_TIMEOUT"),
    ({"COACH_GGUF_PATH": "/no/such.gguf"}, "COACH_GGUF_PATH"),
])
def test_invalid_settings_say_which_and_what(monkeypatch, env, needle):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError) as ei:
        load_settings()
    assert needle in str(ei.value)


def test_dotenv_is_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("COACH_TIMEOUT=12.5\n")
    assert load_settings().timeout == 12.5


def test_settings_table_covers_every_field():
    envs = [row[0] for row in Settings.table()]
    assert "OPENAI_API_KEY" in envs and "COACH_DATA_DIR" in envs
    assert len(envs) == len(Settings.model_fields)


def test_prompt_id_hash_and_messages():
    p = load_prompt("selftest")
    assert p.id == "selftest" and len(p.hash) == 12 and p.variables == ["question"]
    msgs = p.messages(question="Why?")
    assert msgs[0].type == "system" and msgs[1].content == "Why?"


def test_prompt_hash_changes_with_text(tmp_path):
    (tmp_path / "x.yaml").write_text("messages:\n  - [system, 'A {v}']\n")
    h1 = load_prompt("x", tmp_path).hash
    (tmp_path / "y.yaml").write_text("messages:\n  - [system, 'B {v}']\n")
    assert load_prompt("y", tmp_path).hash != h1


def test_bad_prompt_file_is_a_clear_error(tmp_path):
    (tmp_path / "bad.yaml").write_text("nothing: here\n")
    with pytest.raises(PromptError, match="bad.yaml"):
        load_prompt("bad", tmp_path)
    with pytest.raises(PromptError, match="No prompt file"):
        load_prompt("missing", tmp_path)


def test_every_shipped_prompt_loads():
    files = sorted(default_prompts_dir().glob("*.yaml"))
    assert files
    for f in files:
        load_prompt(f.stem)


def test_readme_configuration_table_is_complete():
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    missing = [env for env, _, _ in Settings.table() if f"| `{env}` |" not in readme]
    assert missing == []
