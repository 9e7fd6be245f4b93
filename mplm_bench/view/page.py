"""One self-contained HTML page: the template with its CSS and JS inlined, the index (runs and
settings) as JSON, the sample table (columnar) in its own tag, and (for a file) samples' calls,
each in its own `<script type="application/json">` tag that the page parses only when the sample
is opened — gzip+base64 when that is smaller (Chromium, Firefox and Safari decompress it
natively with DecompressionStream). A file holds the calls of as many samples as its size budget
allows (build.py); the others are read with `--serve`.

Everything embedded is JSON with `<` written as `\\u003c`, so no text a model wrote can close the
script tag (`</script>`) or open a comment; the page puts text into the DOM as text only; and its
Content-Security-Policy lets only its own script run (by hash): no inline handler, no fetch.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from functools import cache
from importlib.resources import files
from typing import Any

MARK_DATA = "<!--__DATA__-->"
COMPRESS_ABOVE = 4096  # bytes of JSON; below it base64's third costs more than gzip saves


@cache
def _asset(name: str) -> str:
    return (files("mplm_bench.view") / "assets" / name).read_text(encoding="utf-8")


def embed_json(value: Any) -> str:
    """JSON safe inside a <script> element: no `<` at all (hence no `</script>` or `<!--`)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def data_tag(tag_id: str, value: Any) -> str:
    """`value` in a JSON script tag of that id, gzip+base64 when that is smaller."""
    raw = embed_json(value)
    if len(raw) > COMPRESS_ABOVE:
        packed = base64.b64encode(gzip.compress(raw.encode("utf-8"), compresslevel=6, mtime=0)).decode("ascii")
        if len(packed) < len(raw):
            return f'<script type="application/json" id="{tag_id}" data-enc="gzip+base64">{packed}</script>\n'
    return f'<script type="application/json" id="{tag_id}">{raw}</script>\n'


def blob_tag(blob_id: int, payload: dict[str, Any]) -> str:
    """Sample `blob_id`'s calls (its position in the table)."""
    return data_tag(f"calls-{blob_id}", payload)


def render(index: dict[str, Any], blobs: list[str]) -> str:
    """The page; `blobs`: the samples' tags from `blob_tag` (none when served)."""
    template = _asset("viewer.html")
    # the trusted assets go in first, the data last, so nothing in the data is taken for a marker
    script = _asset("viewer.js")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    template = (template.replace("/*__SCRIPT_HASH__*/", f"sha256-{digest}")
                .replace("/*__CSS__*/", _asset("viewer.css")).replace("/*__JS__*/", script))
    head, tail = template.split(MARK_DATA)
    meta = {k: v for k, v in index.items() if k != "table"}
    data = f'<script type="application/json" id="index">{embed_json(meta)}</script>\n'
    return "".join([head, data, data_tag("sample-table", index.get("table", {})), *blobs, tail])
