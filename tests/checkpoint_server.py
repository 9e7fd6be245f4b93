"""A canned OpenAI-compatible server answering like a real adaptive checkpoint, for the server
behaviours no real server here shows: trimming the matched stop string (SGLang without
`no_stop_trim`, llama.cpp, OpenAI), saying which stop matched or not, having no `/tokenize`.

A test double below the Backend interface: the openai backend's real client code runs against it.
The "model" is the programmed checkpoint's next-token table (tests/programmed_model.py) over the
real tokenizer with the tags as added special tokens; it decodes token ids the way vLLM does
(special tokens dropped unless `skip_special_tokens` is false) and stops on a stop string found in
that text. `stops` picks how the server then reports the stop:

- "vllm": trims unless `include_stop_str_in_output`, reports `stop_reason` (EOS: null);
- "sglang": trims unless `no_stop_trim`, reports `matched_stop` (EOS: its token id);
- "silent": trims, reports nothing (llama.cpp, OpenAI);
- "keep": keeps the stop string, reports nothing.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import programmed_model

MULTIVERSE_NEXT = {  # Multiverse's layout: <Parallel><Goal><Outline>…</Outline></Goal>, paths, conclusion
    "assistant\n": "Plan", "Plan": "<Parallel>", "<Parallel>": "<Goal>", "<Goal>": "<Outline>",
    "<Outline>": "1", "1": " :", " :": " half", " half": "</Outline>", "</Outline>": "</Goal>",
    "</Goal>": "<|im_end|>", "1:": " done", " done": "</Path>", "</Path>": "<|im_end|>",
    "\n": "</Conclusion>", "</Conclusion>": "</Parallel>", "</Parallel>": " Answer", " Answer": "<|im_end|>",
}


@dataclass
class Checkpoint:
    tokenizer: Any
    table: dict[str, str]
    stops: str = "vllm"
    tokenize: bool = True  # serve /tokenize and /detokenize
    model: str = "checkpoint"
    fail_completions_after: int | None = None  # HTTP 500 on completions after this many
    # after this many completions the server dies: that request's connection is dropped unanswered
    # and the port refuses connections from then on (a killed server)
    die_after: int | None = None
    bodies: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def generate(self, body: dict[str, Any]) -> dict[str, Any]:
        tok = self.tokenizer
        prompt = body["prompt"]
        ids = list(prompt) if isinstance(prompt, list) else tok.encode(prompt).ids
        skip = body.get("skip_special_tokens", True)
        stops = list(body.get("stop") or [])
        eos = tok.token_to_id("<|im_end|>")
        out: list[int] = []
        finish, matched, text = "length", None, ""
        last = tok.id_to_token(ids[-1]) if ids else ""
        for _ in range(int(body.get("max_tokens", 16))):
            nxt = tok.token_to_id(self.table.get(_token_text(last), "<|im_end|>"))
            if nxt == eos and not body.get("ignore_eos"):
                finish, matched = "stop", eos
                break
            out.append(nxt)
            last = tok.id_to_token(nxt)
            text = tok.decode(out, skip_special_tokens=skip)
            hit = min(((text.find(s), s) for s in stops if s in text), default=None)
            if hit is not None:
                text, finish, matched = text[: hit[0] + len(hit[1])], "stop", hit[1]
                break
        else:
            text = tok.decode(out, skip_special_tokens=skip)
        if isinstance(matched, str) and not self._keeps(body):
            text = text[: -len(matched)]
        choice: dict[str, Any] = {"index": 0, "text": text, "finish_reason": finish}
        if self.stops == "vllm":
            choice["stop_reason"] = matched if isinstance(matched, str) else None
        elif self.stops == "sglang":
            choice["matched_stop"] = matched if finish == "stop" else None
        usage = {"prompt_tokens": len(ids), "completion_tokens": len(out)}
        return {"choices": [choice], "usage": usage}

    def _keeps(self, body: dict[str, Any]) -> bool:
        if self.stops == "vllm":
            return bool(body.get("include_stop_str_in_output"))
        if self.stops == "sglang":
            return bool(body.get("no_stop_trim"))
        return self.stops == "keep"

    def chat(self, messages: list[dict[str, str]]) -> str:
        parts = [f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages]
        return "".join(parts) + "<|im_start|>assistant\n"


def _token_text(token: str) -> str:
    """A byte-level vocabulary entry as text (`Ġ` is a space, `Ċ` a newline)."""
    return token.replace("Ġ", " ").replace("Ċ", "\n")


class _Handler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, *args: object) -> None:
        return

    def _json(self, obj: Any, status: int = 200) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        cp: Checkpoint = self.server.checkpoint
        if self.path.rstrip("/") == "/v1/models":
            self._json({"data": [{"id": cp.model, "max_model_len": 2048}]})
        else:
            self._json({"error": "not found"}, 404)

    def do_POST(self) -> None:
        cp: Checkpoint = self.server.checkpoint
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        path = self.path.rstrip("/")
        if path in ("/tokenize", "/detokenize") and not cp.tokenize:
            return self._json({"detail": "Not Found"}, 404)
        if path == "/tokenize":
            text = cp.chat(body["messages"]) if "messages" in body else body["prompt"]
            return self._json({"tokens": cp.tokenizer.encode(text).ids, "count": 0, "max_model_len": 2048})
        if path == "/detokenize":
            return self._json({"prompt": cp.tokenizer.decode(body["tokens"], skip_special_tokens=False)})
        if path != "/v1/completions":
            return self._json({"error": "not found"}, 404)
        with cp.lock:
            cp.bodies.append(body)
            n = len(cp.bodies)
        if cp.die_after is not None and n > cp.die_after:
            if not getattr(self.server, "dead", False):
                self.server.dead = True
                self.server.shutdown()  # this handler runs in its own thread, not serve_forever's
                self.server.server_close()
            self.close_connection = True
            return None
        if cp.fail_completions_after is not None and n > cp.fail_completions_after:
            return self._json({"error": {"message": "engine died"}}, 500)
        answer = cp.generate(body)
        if not body.get("stream"):
            return self._json(answer)
        events = [{"choices": answer["choices"]}, {"choices": [], "usage": answer["usage"]}]
        data = ("".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def tokenizer(folder: Path) -> Any:
    from tokenizers import Tokenizer

    if not (folder / "tokenizer.json").is_file():
        programmed_model.build_tokenizer(folder)
    return Tokenizer.from_file(str(folder / "tokenizer.json"))


@contextmanager
def serve(cp: Checkpoint) -> Iterator[str]:
    """The server's API root (`http://127.0.0.1:PORT/v1`) while the block runs."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.checkpoint = cp  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
