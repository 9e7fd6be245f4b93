"""A fake OpenAI-compatible server carrying a run, and the secret that must never reach what a
run writes or prints (test_reliability_security, test_hardening_run_id)."""

from __future__ import annotations

import json
import socket
import subprocess
from http.server import BaseHTTPRequestHandler
from pathlib import Path

SECRET = "sk-test-9f8e7d6c5b4a"  # never appears in anything written or printed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def assert_no_secret(r: subprocess.CompletedProcess, *folders: Path) -> None:
    assert SECRET not in r.stdout and SECRET not in r.stderr
    for folder in folders:
        for p in folder.rglob("*"):
            if p.is_file():
                assert SECRET.encode() not in p.read_bytes(), p


class FakeOpenAI(BaseHTTPRequestHandler):
    """Just enough of `/v1/models` and streamed `/v1/completions` to carry a run (a test double
    below the Backend interface: the real client code runs). Records the bearer tokens it saw."""

    seen: list[str] = []

    def log_message(self, *args: object) -> None:  # quiet
        return

    def _send(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.seen.append(self.headers.get("Authorization", ""))
        self._send(json.dumps({"data": [{"id": "fake-model", "max_model_len": 8192}]}).encode(),
                   "application/json")

    def do_POST(self) -> None:
        self.seen.append(self.headers.get("Authorization", ""))
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        events = [{"choices": [{"text": "<stop>[[1, 2], [3, 4]]</stop>", "finish_reason": "stop"}]},
                  {"choices": [], "usage": {"prompt_tokens": 40, "completion_tokens": 9}}]
        body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
        self._send(body.encode(), "text/event-stream")
