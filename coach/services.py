"""Wiring: the one place that builds coach's parts from the settings and hands each the few
things it needs. The CLI and the app both start here; nothing else constructs these parts.
"""

from __future__ import annotations

import logging
import threading
from functools import cached_property
from typing import TYPE_CHECKING, Any

from coach.config import Backend, Settings, load_settings
from coach.gateway import CallLog, Gateway
from coach.store.db import Database
from coach.store.models import ModelCall

if TYPE_CHECKING:  # coach.index loads chromadb: only when the index is used
    from coach.index import DirLock

log = logging.getLogger("coach")


class Services:
    def __init__(self, settings: Settings | None = None, *, app: bool = False, read_only_index: bool = False):
        """``app``: the long-running app (it holds the embedded index and indexes in the
        background); ``read_only_index``: open the index without holding it (a query while the
        app holds it), never writing it."""
        self.app, self.read_only_index = app, read_only_index
        self.settings = settings or load_settings()
        self.settings.ensure_dirs()
        self.db = Database(self.settings.sqlalchemy_url)
        self._index_lock: DirLock | None = None

    # -- the model ---------------------------------------------------------------------------

    @cached_property
    def gateway(self) -> Gateway:
        return Gateway(self.settings, on_call=self._record_call)

    def _record_call(self, call: CallLog) -> None:
        try:
            self.db.record_model_call(ModelCall(
                backend=call.backend, model=call.model, purpose=call.purpose,
                prompt_id=call.prompt_id, prompt_hash=call.prompt_hash,
                prompt_tokens=call.prompt_tokens, completion_tokens=call.completion_tokens,
                latency_ms=call.latency_ms, attempts=call.attempts, ok=call.ok, error=call.error,
            ))
        except Exception:  # the usage log must never break a participant's turn
            log.exception("could not record a model call")

    def start_local_model_in_background(self) -> threading.Thread | None:
        """Warm the embedded model server without delaying the app's start."""
        if self.settings.resolved_backend is not Backend.LOCAL or not self.settings.local_autostart:
            return None

        def warm():
            try:
                self.gateway.embedded.ensure_running()
            except Exception as e:
                log.warning("local model server not started: %s", e)

        t = threading.Thread(target=warm, name="local-model-start", daemon=True)
        t.start()
        return t

    # -- the pipeline: interview -> transcript -> extraction -> records -> index -> suggestions --

    def extract(self, turns, role: str, topic: str):
        """The configured extractor over a transcript; a model failure falls back to offline."""
        from coach import extraction

        name = extraction.default_extractor(self.settings)
        if not name.startswith("llm"):
            return extraction.run(name, turns, role, topic=topic)
        try:
            return extraction.run(name, turns, role, topic=topic, gateway=self.gateway)
        except Exception:  # a model failure must not lose the debrief
            log.exception("model extraction failed; using the offline extractor")
            return extraction.run("offline", turns, role, topic=topic)

    @cached_property
    def records(self):
        from coach.records import Records

        return Records(self.db)

    @cached_property
    def debriefs(self):
        from coach.debriefs import Debriefs, model_phrasing

        phrase = (model_phrasing(self.gateway, self.settings.prompts_dir)
                  if self.settings.step_uses_model("interview") else None)
        return Debriefs(self.db, self.records, self.extract, prompts_dir=self.settings.prompts_dir, phrase=phrase,
                        changed=self.index_changed)

    @cached_property
    def accounts(self):
        from coach.accounts import Accounts

        return Accounts.from_settings(self.db, self.settings)

    @cached_property
    def review(self):
        from coach.review import Review

        return Review(self.db, self.records, self.accounts.log, self.risk)

    @cached_property
    def sessions(self):
        from coach.sessions import Sessions

        return Sessions(self.db, self.accounts.log, logged=self.mail_changed)

    @cached_property
    def risk(self):
        from coach.risk import PairsAtRisk, Thresholds

        return PairsAtRisk(self.db, self.accounts.log, Thresholds.of(self.settings))

    @cached_property
    def followups(self):
        from coach.followups import Followups

        return Followups(self.db, self.settings, self.debriefs)

    @cached_property
    def report(self):
        from coach.report import ImpactReport

        return ImpactReport(self.db, self.settings, self.accounts.log, self.risk, self.followups)

    @cached_property
    def mail(self):
        from coach.mail import Mail

        return Mail(self.db, self.settings)

    @cached_property
    def reminders(self):
        from coach.reminders import Reminders

        return Reminders(self.db, self.settings, self.risk, poke=self.mail_changed, followups=self.followups)

    @cached_property
    def mail_worker(self):
        """The app's sender thread (coach.mail.Worker); started by coach.server when mail is configured."""
        from coach.mail import Worker

        return Worker(self.mail, self.reminders.scan)

    def mail_changed(self) -> None:
        """Something may have made a message due: wake the sender if this process runs it."""
        if "mail_worker" in self.__dict__:
            self.mail_worker.poke()

    @cached_property
    def index(self):
        """The index; the embedded one is held by this process until close() (IndexInUse if
        another process holds it)."""
        from coach.index import open_index

        who = "the app" if self.app else "a command"
        index, self._index_lock = open_index(self.settings.index_dir, self.settings.chroma_url, who,
                                             read_only=self.read_only_index)
        return index

    @cached_property
    def indexer(self):
        from coach.index import Indexer

        if self.read_only_index:
            raise RuntimeError("a read-only index is never written")
        return Indexer(self.db, self.index)

    @cached_property
    def corpus(self):
        from coach.suggest import Corpus

        return Corpus(self.db, self.index, None if self.read_only_index else self.indexer)

    def index_changed(self) -> None:
        """A change that may move records into or out of the index was committed: wake the
        indexer if this process runs it (others, and commands, drain before their next query)."""
        if "indexer" in self.__dict__:
            self.indexer.poke()

    def card_writer(self):
        from coach.suggest import model_writer

        return model_writer(self.gateway, self.settings.prompts_dir) if self.settings.step_uses_model("suggestions") else None

    # -- the process -------------------------------------------------------------------------

    def status(self) -> dict:
        s = self.settings
        from coach.store.db import schema_version

        info: dict[str, Any] = {
            "backend": s.resolved_backend.value,
            "model": s.model_name,
            "data_dir": str(s.data_dir),
            "database": s.sqlalchemy_url.split("@")[-1],  # never print credentials
            "schema_version": schema_version(self.db.engine),
            "index": s.chroma_url or str(s.index_dir),
            "steps_using_model": [st for st in ("interview", "extraction", "suggestions") if s.step_uses_model(st)],
            "token_usage": self.db.token_usage(),
        }
        if "indexer" in self.__dict__:
            info["index_waiting"] = self.indexer.pending()
        if s.resolved_backend is Backend.LOCAL and "gateway" in self.__dict__:
            srv = self.gateway.embedded
            problem = srv.check() or srv.crash_report()
            info["local_server"] = {"alive": srv.is_alive(), "port": srv.port, "restarts": srv.restarts,
                                    "problem": problem or None}
        return info

    def close(self) -> None:
        if "mail_worker" in self.__dict__:
            self.mail_worker.stop()
        if "indexer" in self.__dict__:
            self.indexer.stop()
        if self._index_lock is not None:
            self._index_lock.release()
            self._index_lock = None
        if "gateway" in self.__dict__ and self.gateway.local_server:
            self.gateway.local_server.stop()
        self.db.dispose()
