"""`mplm-bench view ROOT --serve`: the same page, served on 127.0.0.1 for a root still being
written. Each load of `/` scans the root again (new runs, new samples); a sample's calls come from
`/calls?run=DIR&instance=ID&repeat=R` when it is opened, read from Parquet with a filter on that
sample (the row groups whose statistics rule it out are not read), so a page of any size opens any
sample. A committed sample never changes, so its calls are cached; `run` must name one of the runs
found, so no other path can be read.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from mplm_bench.view.build import base_of
from mplm_bench.view.data import build_index, run_name, runs_at, sample_calls, sample_payload
from mplm_bench.view.page import render

log = logging.getLogger(__name__)
CACHE_SAMPLES = 512  # payloads kept: a user clicking through a 100k-sample root never fills memory


class ViewServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, paths: list[Path], port: int = 0) -> None:
        self.paths = paths
        self.base = base_of(paths)
        self.cache: OrderedDict[tuple[str, str, int], bytes] = OrderedDict()  # the last CACHE_SAMPLES opened
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def page(self) -> bytes:
        runs = runs_at(self.paths, allow_empty=True)
        index, _ = build_index(runs, self.base, allow_empty=True)
        index["mode"] = "serve"
        index["where"] = ", ".join(str(p) for p in self.paths) + " (live)"
        return render(index, []).encode("utf-8")

    def calls(self, run: str, instance: str, repeat: int) -> bytes | None:
        key = (run, instance, repeat)
        with self.lock:
            if key in self.cache:
                self.cache.move_to_end(key)
                return self.cache[key]
        runs = {run_name(r.dir, self.base): r for r in runs_at(self.paths, allow_empty=True)}
        if run not in runs:
            return None
        calls = sample_calls(runs[run].dir, instance, repeat)  # this sample's row groups only
        if not calls.num_rows:
            return None
        body = json.dumps(sample_payload(calls), ensure_ascii=False, allow_nan=False).encode("utf-8")
        with self.lock:
            self.cache[key] = body
            while len(self.cache) > CACHE_SAMPLES:
                self.cache.popitem(last=False)
        return body


MAX_REPEAT = 2**31  # a repeat index is small; a larger one is a bad request, not an overflow


class _Handler(BaseHTTPRequestHandler):
    server: ViewServer

    def _host_ok(self) -> bool:
        """Only requests addressed to this server by a loopback name: a page on another site
        whose name re-resolves to 127.0.0.1 (DNS rebinding) sends its own name as Host."""
        port = self.server.server_address[1]
        host = (self.headers.get("Host") or "").strip().lower()
        return host in {f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"}

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        url = urlsplit(self.path)
        if not self._host_ok():
            return self._send(403, "text/plain", b"this viewer answers only http://127.0.0.1:PORT/")
        try:
            if url.path in ("/", "/index.html"):
                return self._send(200, "text/html; charset=utf-8", self.server.page())
            if url.path == "/calls":
                q = parse_qs(url.query)
                try:
                    key = (q["run"][0], q["instance"][0], int(q["repeat"][0]))
                    if not 0 <= key[2] < MAX_REPEAT:
                        raise ValueError(key[2])
                except (KeyError, ValueError, IndexError):
                    return self._send(400, "text/plain", b"calls?run=DIR&instance=ID&repeat=R")
                body = self.server.calls(*key)
                if body is None:
                    return self._send(404, "text/plain", b"no such sample")
                return self._send(200, "application/json; charset=utf-8", body)
            return self._send(404, "text/plain", b"not found")
        except Exception:  # one bad read must not stop the server; the why goes to the terminal,
            log.exception("view: %s failed", self.path)  # not to a page another site may read
            return self._send(500, "text/plain; charset=utf-8", b"the viewer could not read this (see its terminal)")

    def _send(self, code: int, kind: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        log.debug("view: " + format, *args)
