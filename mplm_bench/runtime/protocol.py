"""The tag grammar of the MPLM-family protocols: parse responses, render resumed prompts.

Grammar and resume rule follow docs/protocols.md §1 (the MPLM paper, arXiv 2607.01077, and the
trace programs released with its checkpoints). Parsing is deliberately lenient about spaces,
case and an id list echoed in a closing tag, because small models drift on exactly those.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

# A protocol is the trace format a sample's threads follow, by name: `serial` (one CoT thread),
# `fj`, `mplm`, a task's own (`sos`, `apr`) or an adaptive strategy's (`threadweaver`, …). An open
# set, not a Literal: a plugin strategy registers under a protocol of its own.
Protocol: TypeAlias = str
# how a protocol's steps are scheduled: synchronous rounds or event-driven (runtime/scheduler.py)
SchedulerKind: TypeAlias = Literal["sync", "async"]

MASTER_ID = "0"
SYSTEM_PROMPT = "You are a helpful assistant."  # docs/protocols.md §1: every step is one single-turn chat

# Ids are short tokens such as `12` or `0.1.0`; anything else in an id list is a protocol error.
_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_IDS = r"\[\s*([^\]<>]*?)\s*\]"
_ID_LIST = re.compile(r"\s*[A-Za-z0-9_.\-]{1,64}(?:\s*,\s*[A-Za-z0-9_.\-]{1,64})*\s*\Z")
# Open and close tags are matched separately, never as one `<open>(.*?)<close>` pattern: that
# rescans to the end of the text from every unclosed open tag (100k unclosed `<stop>`, 600 KB,
# took ~330 s). `_pairs` pairs them in one pass: the same matches, in time linear in the text.
_SPAWN_OPEN = re.compile(rf"<\s*spawn\s*{_IDS}\s*>", re.I)
_SPAWN_CLOSE = re.compile(rf"<\s*/\s*spawn\s*(?:{_IDS})?\s*>", re.I)
_SEND_OPEN = re.compile(rf"<\s*send\s*{_IDS}\s*>", re.I)
_SEND_CLOSE = re.compile(rf"<\s*/\s*send\s*(?:{_IDS})?\s*>", re.I)
_RECV = re.compile(rf"<\s*recv\s*(?:{_IDS})?\s*>", re.I)
_STOP_CLOSE = re.compile(r"<\s*/\s*stop\s*>", re.I)
_STOP = re.compile(r"<\s*stop\s*>", re.I)


def _pairs(opening: re.Pattern[str], closing: re.Pattern[str], text: str) -> list[tuple[str, str]]:
    """(ids, body) of each `<open [ids]>body</close>`, as `finditer` of `open(.*?)close` finds them:
    each open tag with the first close tag after it, the next search after that close. An open tag
    without a close after it ends the search: no later one can have one either."""
    out: list[tuple[str, str]] = []
    pos = 0
    while (o := opening.search(text, pos)) is not None:
        c = closing.search(text, o.end())
        if c is None:
            break
        out.append((o.group(1) if opening.groups else "", text[o.end():c.start()]))
        pos = c.end()
    return out


@dataclass(frozen=True, slots=True)
class Spawn:
    ids: tuple[str, ...]
    body: str


@dataclass(frozen=True, slots=True)
class Send:
    ids: tuple[str, ...]
    payload: str


@dataclass(frozen=True, slots=True)
class Recv:
    """`<recv [ids]>` waits for one message from each id; `<recv>` (ids None) for any message."""

    ids: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class Stop:
    body: str | None
    # the step that wrote it was cut by its token limit, and the controller keeps the text as the
    # answer anyway (the adaptive controllers score a cut trace, docs/parallel.md §truncation): the
    # sample ends `truncated`, its answer scored
    truncated: bool = False


Terminal = Recv | Stop


@dataclass(slots=True)
class ParsedStep:
    """What one response asks the runtime to do, in the order it was written."""

    spawns: list[Spawn] = field(default_factory=list)
    sends: list[Send] = field(default_factory=list)
    terminal: Terminal | None = None
    kept: str = ""  # the response up to the end of its terminal directive: what enters history
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """A compact, log-friendly rendering, e.g. `spawn[1..81] recv[1..81]`."""
        parts = [f"spawn[{_span(s.ids)}]" for s in self.spawns]
        parts += [f"send[{_span(s.ids)}]" for s in self.sends]
        match self.terminal:
            case Recv(ids=None):
                parts.append("recv")
            case Recv(ids=ids):
                parts.append(f"recv[{_span(ids)}]")
            case Stop():
                parts.append("stop")
        return " ".join(parts)


def _span(ids: tuple[str, ...] | None) -> str:
    if not ids:
        return ""
    return ids[0] if len(ids) == 1 else f"{ids[0]}..{ids[-1]}({len(ids)})"


def stop_bodies(text: str) -> list[str]:
    """The body of every `<stop>BODY</stop>` (what `re.findall` of `<stop>(.*?)</stop>` gives),
    in time linear in the text: model output is read with it, never with that pattern."""
    return [body for _, body in _pairs(_STOP, _STOP_CLOSE, text)]


def parse_ids(text: str) -> tuple[tuple[str, ...], list[str]]:
    """Split `1,2, 3` into ids; returns (valid ids without duplicates, error messages)."""
    if _ID_LIST.match(text):  # the common, well-formed case in one regex pass
        return tuple(dict.fromkeys(t.strip() for t in text.split(","))), []
    ids: list[str] = []
    errors: list[str] = []
    for raw in text.split(","):
        tok = raw.strip()
        if not tok:
            continue
        if _ID.match(tok):
            if tok not in ids:
                ids.append(tok)
        else:
            errors.append(f"bad id {tok[:20]!r}")
    return tuple(ids), errors


def parse_response(text: str) -> ParsedStep:
    """Parse one response. Spawns and sends before the first recv/stop count; the rest is ignored.

    A response without a recv or stop has no terminal directive: the runtime decides what that
    means (the thread ends with a protocol error, or a truncation if the engine cut it short).
    """
    step = ParsedStep()
    end = len(text)
    terminal: Terminal | None = None
    # The earliest terminal directive ends the step; a `<stop>BODY</stop>` wins over a bare
    # `<stop>` at the same position.
    cands: list[tuple[int, int, Terminal]] = []
    if m := _RECV.search(text):
        ids = None
        if m.group(1) is not None:
            ids, errs = parse_ids(m.group(1))
            step.errors += errs
        cands.append((m.start(), m.end(), Recv(ids)))
    if m := _STOP.search(text):  # `<stop>BODY</stop>` when a close follows the first `<stop>`
        if c := _STOP_CLOSE.search(text, m.end()):
            cands.append((m.start(), c.end(), Stop(text[m.end():c.start()].strip())))
        else:
            cands.append((m.start(), m.end(), Stop(None)))
    if cands:
        start, end, terminal = min(cands, key=lambda c: (c[0], -c[1]))
        # directives must come before the terminal; text after it is discarded
        scan = text[:start]
    else:
        scan = text
    for raw, body in _pairs(_SPAWN_OPEN, _SPAWN_CLOSE, scan):
        ids, errs = parse_ids(raw)
        step.errors += errs
        if ids:
            step.spawns.append(Spawn(ids, body))
    for raw, body in _pairs(_SEND_OPEN, _SEND_CLOSE, scan):
        ids, errs = parse_ids(raw)
        step.errors += errs
        if ids:
            step.sends.append(Send(ids, body))
    if isinstance(terminal, Recv) and terminal.ids == ():
        step.errors.append("empty recv id list")
        terminal = Recv(None)
    step.terminal = terminal
    step.kept = text[:end]
    return step


# -- the prompt pieces (docs/protocols.md §1), for policies that read a prompt back ----------------
WORKER_PREFIX = "Your id is: "  # opens every spawned thread's prompt; the root has none
_WORKER_HEADER = re.compile(r"\s*Your id is:\s*(\S+?)\.[ \t]*\n")
_RECV_BLOCK = re.compile(r"<\s*recv\b[^>]*>\n(.*?)\n?<\s*/\s*recv\s*>", re.S | re.I)
_RECV_OPEN = re.compile(r"<\s*recv\s*(?:\[\s*([^\]<>]*?)\s*\])?\s*>", re.I)


def worker_header(thread_id: str) -> str:
    """`Your id is: ID.⏎`: the first line of a spawned thread's prompt."""
    return f"{WORKER_PREFIX}{thread_id}.\n"


def read_worker_id(prompt: str) -> tuple[str | None, int]:
    """(the id in a worker header, where the text after it starts), or (None, 0) for a prompt
    without one (the root's). Lenient about spaces, like the parser."""
    m = _WORKER_HEADER.match(prompt)
    return (m.group(1), m.end()) if m else (None, 0)


def is_resumed(prompt: str) -> bool:
    """Whether the prompt ends with a completed receive (`⏎</recv>`): the thread has stepped before."""
    return prompt.rstrip().endswith("</recv>")  # rstrip copies nothing without trailing space


def received_blocks(text: str) -> list[str]:
    """The message lines of every `<recv…>⏎…⏎</recv>` block in `text`, one string per block."""
    return _RECV_BLOCK.findall(text)


def last_recv(prompt: str) -> tuple[tuple[str, ...] | None, int]:
    """(ids of the last `<recv …>` tag, None for `<recv>`; its offset, -1 when there is none).

    From the end, so a megabyte prompt is not scanned; the messages it received follow the offset
    (`pattern.findall(prompt, offset)` reads them without a copy)."""
    start = prompt.rfind("<recv")
    if start < 0:
        return None, -1
    m = _RECV_OPEN.match(prompt, start)
    if m is None or m.group(1) is None:
        return None, start
    return parse_ids(m.group(1))[0], start


def render_spawn(ids: list[str] | tuple[str, ...], body: str, sep: str = ",") -> str:
    return f"<spawn {format_ids(ids, sep)}>{body}</spawn>"


def render_send(ids: list[str] | tuple[str, ...], payload: str, sep: str = ",") -> str:
    return f"<send {format_ids(ids, sep)}>{payload}</send>"


def render_recv(ids: list[str] | tuple[str, ...] | None = None, sep: str = ",") -> str:
    """`<recv [ids]>` (one message from each), or `<recv>` (any) when ids is None."""
    return "<recv>" if ids is None else f"<recv {format_ids(ids, sep)}>"


def render_stop(body: str | None = None) -> str:
    return "<stop>" if body is None else f"<stop>{body}</stop>"


def spawn_prompt(thread_id: str, body: str) -> tuple[str, str]:
    """First prompt of a spawned thread, as two segments (the body is shared by all siblings).

    One newline just inside each spawn tag is layout, not body: the released trace programs
    write `<spawn [W.0]>⏎F⏎</spawn>` but train the child on `Your id is: W.0.⏎F`.
    """
    if body.startswith("\n"):
        body = body[1:]
    if body.endswith("\n"):
        body = body[:-1]
    return (worker_header(thread_id), body)


def resume_segments(kept_response: str, payloads: list[str]) -> tuple[str, ...]:
    """What a thread's prompt grows by when its recv completes (docs/protocols.md §1, 'Resuming'):
    the resumed-messages block that `received_blocks` reads back.

    next prompt = previous prompt + ⏎ + previous response + ⏎ + messages one per line + ⏎</recv>
    """
    return ("\n", kept_response, "\n", "\n".join(payloads), "\n</recv>")


@functools.lru_cache(maxsize=65536)
def thread_sort_key(thread_id: str) -> tuple:
    """Natural order of ids: `2` < `10`, `0.1` < `0.1.0`; numbers before names."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in thread_id.split("."))


def format_ids(ids: list[str] | tuple[str, ...], sep: str = ",") -> str:
    return "[" + sep.join(ids) + "]"
