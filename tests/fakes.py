"""FakeModelServer: a tiny OpenAI-compatible HTTP server whose replies are written in the test.

It is a fake model, not a mock of the gateway: the real ``openai`` SDK talks real HTTP to it,
so retries, timeouts and parsing run exactly as they do against a real backend. Each scripted
step is one of:

- ``("text", "hello")``       a chat completion with that content (streamed if asked)
- ``("status", 429)``         an HTTP error with that status
- ``("sleep", 2.0)``          answer only after sleeping (to trigger client timeouts)
- ``("drop", None)``          close the connection without answering
- ``("cut", "some words")``   start streaming those words, then close the connection mid-stream
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeModelServer:
    def __init__(self, script: list[tuple[str, object]]):
        self.script = list(script)
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                self._json(200, {"object": "list", "data": [{"id": "fake-model", "object": "model"}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
                with fake._lock:
                    fake.requests.append(body)
                    step = fake.script.pop(0) if fake.script else ("text", "(script exhausted)")
                kind, arg = step
                if kind == "status":
                    return self._json(arg, {"error": {"message": f"scripted {arg}", "type": "fake"}},
                                      headers={"retry-after-ms": "10"})
                if kind == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if kind == "sleep":
                    time.sleep(arg)
                    arg = "late"
                if kind == "cut":
                    return self._stream(str(arg), cut=True)
                if body.get("stream"):
                    return self._stream(str(arg))
                self._json(200, _completion(str(arg)))

            def _json(self, code, obj, headers=None):
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, text, cut=False):
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("connection", "close")
                self.end_headers()
                words = text.split(" ")
                for n, word in enumerate(words):
                    last = n == len(words) - 1 and not cut
                    chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "fake-model",
                             "choices": [{"index": 0, "delta": {"content": word + " "},
                                          "finish_reason": "stop" if last else None}]}
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                if cut:  # the server dies mid-answer: no [DONE], connection gone
                    self.wfile.write(b"data: {\"choices\": [")
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    self.close_connection = True
                    return
                self.wfile.write(b"data: [DONE]\n\n")
                self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _completion(text: str) -> dict:
    return {
        "id": "c1", "object": "chat.completion", "created": 0, "model": "fake-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 11, "completion_tokens": len(text.split()), "total_tokens": 11 + len(text.split())},
    }
