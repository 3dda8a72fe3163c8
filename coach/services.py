"""Wiring: one object holding the settings, the database, the index and the model gateway.

The CLI and the Gradio app both build a :class:`Services`; nothing else constructs these parts.
"""

from __future__ import annotations

import logging
import threading
from functools import cached_property

from coach.config import Backend, Settings, load_settings
from coach.gateway import CallLog, Gateway
from coach.store.db import Database
from coach.store.models import ModelCall

log = logging.getLogger("coach")


class Services:
    def __init__(self, settings: Settings | None = None, *, app: bool = False):
        self.app = app  # the long-running app: holds the embedded index and catches up in the background
        self.settings = settings or load_settings()
        self.settings.ensure_dirs()
        self.db = Database(self.settings.sqlalchemy_url)

    @cached_property
    def index(self):
        from coach.index import Index  # imports chromadb + onnxruntime: only when needed

        return Index(self.settings.index_dir, self.settings.chroma_url, self.db, background_sync=self.app)

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
                self.gateway.local_server.ensure_running()
            except Exception as e:
                log.warning("local model server not started: %s", e)

        t = threading.Thread(target=warm, name="local-model-start", daemon=True)
        t.start()
        return t

    def status(self) -> dict:
        s = self.settings
        from coach.store.db import schema_version

        info = {
            "backend": s.resolved_backend.value,
            "model": s.model_name,
            "data_dir": str(s.data_dir),
            "database": s.sqlalchemy_url.split("@")[-1],  # never print credentials
            "schema_version": schema_version(self.db.engine),
            "index": s.chroma_url or str(s.index_dir),
            "steps_using_model": [st for st in ("interview", "extraction", "suggestions") if s.step_uses_model(st)],
            "token_usage": self.db.token_usage(),
        }
        if s.resolved_backend is Backend.LOCAL and "gateway" in self.__dict__:
            srv = self.gateway.local_server
            problem = srv.check() or srv.crash_report()
            info["local_server"] = {"alive": srv.is_alive(), "port": srv.port, "restarts": srv.restarts,
                                    "problem": problem or None}
        return info

    def close(self) -> None:
        if "index" in self.__dict__:
            self.index.close()
        if "gateway" in self.__dict__ and self.gateway.local_server:
            self.gateway.local_server.stop()
        self.db.dispose()
