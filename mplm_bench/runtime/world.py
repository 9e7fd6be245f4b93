"""One sample's threads: the pure state machine that applies each finished step's directives.

The schedulers decide *when* steps run; this module decides *what a step means*: spawns,
sends, recv/stop, preemption of spawn subtrees, caps, and the critical-path bookkeeping. What a
response means is the dialect's (runtime/dialect.py; None: the tag grammar); an input that
arrives over time is a layer around this core (runtime/streamed.py, runtime/input_stream.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from mplm_bench.runtime.accounting import CallRecord, SampleMetrics, Status
from mplm_bench.runtime.backend import Completion, Request, Sampling
from mplm_bench.runtime.caps import Caps
from mplm_bench.runtime.dialect import ContinuationDialect, Dialect, Rewind, SpawnDialect
from mplm_bench.runtime.protocol import (
    MASTER_ID,
    SYSTEM_PROMPT,
    Recv,
    Stop,
    parse_response,
    resume_segments,
    spawn_prompt,
    thread_sort_key,
)
from mplm_bench.runtime.streamed import HeldInput
from mplm_bench.runtime.threads import LIVE, Message, Thread, ThreadState


@dataclass(slots=True)
class Ticket:
    """A step in flight: which thread, which incarnation of it, and its request."""

    call: int
    thread_id: str
    generation: int
    request: Request
    record: CallRecord


@dataclass(frozen=True, slots=True)
class Seed:
    """A thread the harness starts before any model call: the master has, in effect, already
    spawned it and waits on every seed (docs/protocols.md §4: one reader per chunk)."""

    id: str
    segments: tuple[str, ...]
    max_tokens: int | None = None  # its own per-step budget; None: the sample's
    # False: the master does not wait on it (a CoT prefill request, docs/streaming.md): it runs,
    # is recorded, and its response goes nowhere
    awaited: bool = True
    # sent under this thread's id instead of its own: a prefill request warms that thread's
    # prompt, and a backend's prefix cache may be per thread (the scripted backend's is)
    cache_as: str | None = None


# tokens one call may report (prompt, cached, completion, discarded): far above any context
# window, far below what a Parquet int64 column or a float sum loses precision on
MAX_CALL_TOKENS = 2**40
_COUNTS = ("prompt_tokens", "cached_prompt_tokens", "completion_tokens", "discarded_tokens")


def checked_usage(comp: Completion) -> Completion:
    """The completion, or, when a server reported an impossible token count (10^30, negative, not
    an integer), an `error` completion with no counts: that sample ends engine_error and its rows
    can still be written; the run goes on."""
    bad = [(k, v) for k in _COUNTS if not (isinstance(v := getattr(comp, k), int) and not isinstance(v, bool)
                                            and 0 <= v <= MAX_CALL_TOKENS)]
    if not bad:
        return comp
    what = ", ".join(f"{k}={str(v)[:30]}" for k, v in bad)
    return replace(comp, prompt_tokens=0, cached_prompt_tokens=0, completion_tokens=0, discarded_tokens=0,
                   finish_reason="error", error=f"the server reported impossible usage ({what})",
                   stopped=None, token_confidences=None)


class World:
    def __init__(
        self,
        sample_key: str,
        master_prompt: str | Sequence[str],
        caps: Caps,
        sampling: Sampling,
        system: str | None = SYSTEM_PROMPT,
        log_prompts: bool = False,
        dialect: Dialect | None = None,
        seeds: Sequence[Seed] = (),
    ) -> None:
        self.key = sample_key
        self.caps = caps
        self.sampling = sampling
        self.system = system
        self.log_prompts = log_prompts
        # a prompt may come in segments (whose concatenation is the prompt) so that a backend
        # counting tokens per segment reuses counts of parts it has seen, e.g. PaCoRe references
        segments = [master_prompt] if isinstance(master_prompt, str) else list(master_prompt)
        self.threads: dict[str, Thread] = {MASTER_ID: Thread(MASTER_ID, None, 0, segments)}
        self.dialect = dialect  # None: the tag grammar (parse_response / resume_segments)
        # its optional capabilities, looked up once (runtime/dialect.py)
        self.continuation = dialect if isinstance(dialect, ContinuationDialect) else None
        self._first_prompt = dialect.spawn if isinstance(dialect, SpawnDialect) else spawn_prompt
        if self.continuation is not None:
            self.threads[MASTER_ID].assistant = []
        # characters held in prompts, inboxes and responses (`Caps.max_sample_chars`); a spawn
        # body or a payload sent to many threads is one shared string, counted once; logged
        # prompts (--log-prompts) are copies, counted each
        self.chars = sum(map(len, segments))
        self.calls: list[CallRecord] = []
        self.metrics = SampleMetrics()
        self.done = False
        self._seq = 0
        self._consumed: dict[str, str] = {}  # thread -> ids it consumed for its next step
        self._dirty: dict[str, Thread] = {}  # waiting threads whose inbox or wait changed
        self._sampling: dict[str, Sampling] = {}  # per-thread overrides (seeds' budgets)
        self._cache_as: dict[str, str] = {}  # seed -> the thread id its requests carry
        self.input: HeldInput | None = None  # a streamed input's holds (`hold`); None: all there at once
        if seeds:
            self._seed(seeds)

    def _seed(self, seeds: Sequence[Seed]) -> None:
        master = self.threads[MASTER_ID]
        for s in seeds:
            if s.id in self.threads:
                raise ValueError(f"seed thread {s.id!r} given twice (or as the master)")
            self.threads[s.id] = Thread(s.id, MASTER_ID, 1, list(s.segments))
            self.chars += sum(map(len, s.segments))
            master.children.append(s.id)
            self._consumed[s.id] = MASTER_ID
            if s.max_tokens is not None:
                self._sampling[s.id] = replace(self.sampling, max_tokens=s.max_tokens)
            if s.cache_as is not None:
                self._cache_as[s.id] = s.cache_as
        awaited = tuple(s.id for s in seeds if s.awaited)
        if awaited:
            master.state = ThreadState.WAITING
            master.waiting_for = Recv(awaited)
        self.metrics.n_threads = len(self.threads)
        self.metrics.max_depth = 1

    # -- input that arrives over time (runtime/streamed.py) -----------------------------------
    def hold(self, thread_id: str, until: float, last_piece: bool = False) -> None:
        """Thread `thread_id` may begin its first step only at `until` on the run's clock (virtual
        time, or seconds since the sample began on an engine): its input arrives then.
        `last_piece`: what it waits for is the input's end, so its steps, and every step that
        depends on them, are on the critical path after input end (`cp_after_input`)."""
        if thread_id not in self.threads:
            raise ValueError(f"no thread {thread_id!r} to hold")
        if self.input is None:
            self.input = HeldInput()
        self.input.hold(self.threads[thread_id], until, last_piece)

    def next_release(self) -> float | None:
        """The earliest time a held runnable thread may begin; None when none is held."""
        return None if self.input is None else self.input.next_release(self.threads)

    def cp_after_input(self) -> float | None:
        """Critical-path tokens after the input ended: the longest chain of generated tokens
        that depends on the last piece of a streamed input (none before it could run). Of the
        master's final step when the sample ended ok, else the longest such chain; None when no
        thread was held for the last piece (or none of them ran)."""
        return None if self.input is None else self.input.cp_after_input(self.calls, self.metrics.status is Status.OK)

    # -- starting steps ------------------------------------------------------------------
    def runnable(self, now: float | None = None) -> list[Thread]:
        """Runnable threads in id order; with `now`, only those not held past it."""
        ts = [t for t in self.threads.values() if t.state is ThreadState.RUNNABLE]
        if now is not None and self.input is not None:
            ts = [t for t in ts if self.input.released(t.id, now)]
        ts.sort(key=lambda t: thread_sort_key(t.id))
        return ts

    def begin(self, thread: Thread, start_v: float, start_wall: float) -> Ticket | None:
        """Mark a runnable thread running and build its request; None if a cap ends the sample."""
        if len(self.calls) >= self.caps.max_steps:
            self.finish(Status.CAP_EXCEEDED, f"more than {self.caps.max_steps} steps")
            return None
        call = len(self.calls)
        thread.state = ThreadState.RUNNING
        if self.input is not None:
            self.input.began(call, thread)
        rec = CallRecord(
            call=call,
            thread_id=thread.id,
            parent_id=thread.parent,
            step=thread.steps,
            round=thread.ready_level + 1,
            start_v=start_v,
            start_wall=start_wall,
            cp_start=thread.ready_cp,
            consumed_from=self._consumed.pop(thread.id, ""),
        )
        self.calls.append(rec)
        sampling = self._sampling.get(thread.id, self.sampling)
        stop: tuple[str, ...] = ()
        if self.continuation is not None:
            sampling, stop = self.continuation.step(thread, sampling)  # its per-step stops
        req = Request(
            request_id=f"{self.key}/{call}",
            thread_id=self._cache_as.get(thread.id, thread.id),
            segments=tuple(thread.segments),
            system=self.system,
            sampling=sampling,
            assistant=None if thread.assistant is None else tuple(thread.assistant),
            stop=stop,
        )
        if self.log_prompts:
            # a string of its own per call: it counts against the cap (a continuation's shows the
            # assistant text so far after Request.policy_text's marker)
            rec.prompt = req.policy_text
            self.chars += len(rec.prompt)
        return Ticket(call, thread.id, thread.generation, req, rec)

    # -- finishing steps -----------------------------------------------------------------
    def is_stale(self, ticket: Ticket) -> bool:
        t = self.threads.get(ticket.thread_id)
        return self.done or t is None or t.generation != ticket.generation or t.state is not ThreadState.RUNNING

    def record(self, ticket: Ticket, comp: Completion, end_v: float, end_wall: float, status: str) -> None:
        comp = checked_usage(comp)
        rec = ticket.record
        rec.prompt_tokens = comp.prompt_tokens
        rec.cached_prompt_tokens = comp.cached_prompt_tokens
        rec.completion_tokens = comp.completion_tokens
        rec.finish_reason = comp.finish_reason
        rec.stop_reason = comp.stop_reason or ""
        rec.ttft_s = comp.ttft_s
        rec.end_v = end_v
        rec.end_wall = end_wall
        rec.cp_end = rec.cp_start + comp.completion_tokens
        rec.response = comp.text
        rec.status = status
        rec.error = comp.error
        rec.retries = comp.retries
        rec.discarded_tokens = comp.discarded_tokens
        self.chars += len(comp.text)
        if self.input is not None:
            self.input.generated(rec.call, comp.completion_tokens)
        self.metrics.add_call(rec)
        if status == "preempted":
            self.metrics.n_preempted += 1

    def complete(self, ticket: Ticket, comp: Completion, end_v: float, end_wall: float,
                 wake: bool = True) -> None:
        """Apply a finished step. Threads it preempts are only marked here: the scheduler sees
        their tickets turn stale and aborts those in-flight requests. Synchronous rounds pass
        `wake=False` and call `wake()` once the whole round has been applied."""
        comp = checked_usage(comp)
        if self.is_stale(ticket):
            self.record(ticket, comp, end_v, end_wall, "preempted")
            return
        thread = self.threads[ticket.thread_id]
        thread.steps += 1
        if comp.finish_reason == "abort" and comp.stopped is not None:
            # a strategy stopped the step on purpose (DeepConf's early stop): what it generated
            # is kept and counted once; the thread is cut, like a preempted one
            self.record(ticket, comp, end_v, end_wall, "preempted")
            self._end_thread(thread, "preempted")
            if thread.id == MASTER_ID:
                self.metrics.answer = None
                self.finish(Status.TRUNCATED, comp.stopped)
            return
        if comp.finish_reason in ("error", "abort"):
            self.record(ticket, comp, end_v, end_wall, "error")
            self.finish(Status.ENGINE_ERROR, comp.error or f"engine ended a step with {comp.finish_reason}")
            return
        if comp.finish_reason == "timeout":  # no answer within -M request_timeout_s
            self.record(ticket, comp, end_v, end_wall, "error")
            self.finish(Status.TIMEOUT, comp.error or "a call got no answer in time")
            return
        if comp.finish_reason == "prompt_too_long":
            self.record(ticket, comp, end_v, end_wall, "error")
            self.finish(Status.TRUNCATED, comp.error or "prompt longer than the context window")
            return
        self.record(ticket, comp, end_v, end_wall, "ok")
        rec = ticket.record
        thread.step_tokens = comp.completion_tokens
        m = self.metrics
        if m.gen_tokens > self.caps.max_total_tokens:
            self.finish(Status.CAP_EXCEEDED, f"more than {self.caps.max_total_tokens} generated tokens")
            return
        step = (parse_response(comp.text) if self.dialect is None
                else self.dialect.parse(thread, comp.text, comp.finish_reason))
        rec.directives = step.summary()
        if step.errors:
            m.n_protocol_errors += 1
        cp, level = rec.cp_end, rec.round
        tail = None if self.input is None else self.input.tail_of(rec.call)
        deliveries = sum(len(send.ids) for send in step.sends)
        if deliveries > self.caps.max_step_messages:  # before one Message is made
            self.finish(Status.CAP_EXCEEDED, f"more than {self.caps.max_step_messages} messages in one step "
                                             f"({deliveries})")
            return
        for spawn in step.spawns:
            self._spawn(thread, spawn.ids, spawn.body, cp, level, tail)
            if self.done:
                return
        for send in step.sends:
            self._send(thread, send.ids, send.payload, cp, level, rec.call, tail)
        if self._over_chars():
            return
        match step.terminal:
            case Recv() as recv:
                thread.state = ThreadState.WAITING
                thread.waiting_for = recv
                self._dirty[thread.id] = thread  # its inbox may already hold what it waits for
                thread.last_kept = step.kept
                thread.ready_cp, thread.ready_level = cp, level
                thread.ready_tail = tail
            case Stop(body=body, truncated=cut):
                self._end_thread(thread, "truncated" if cut else "stop")
                if thread.id == MASTER_ID:
                    m.answer = body
                    if cut:
                        self.finish(Status.TRUNCATED, "the trace was cut by its token limit; scored as it is")
                    else:
                        self.finish(Status.OK)
                    return
            case None:
                truncated = comp.finish_reason == "length"
                m.n_protocol_errors += 0 if truncated else 1
                self._end_thread(thread, "truncated" if truncated else "protocol_error")
                if thread.id == MASTER_ID:
                    m.answer = None
                    self.finish(
                        Status.TRUNCATED if truncated else Status.PROTOCOL_ERROR,
                        "master hit max_tokens" if truncated else "master wrote neither recv nor stop",
                    )
                    return
        if wake:
            self.wake()

    # -- directives ----------------------------------------------------------------------
    def _spawn(self, parent: Thread, ids: tuple[str, ...], body: str, cp: float, level: int,
               tail: float | None = None) -> None:
        self.chars += len(body) + 24 * len(ids)  # one body; an id line per thread
        for tid in ids:
            if tid == parent.id or tid == MASTER_ID or self._is_ancestor(tid, parent):
                self.metrics.n_protocol_errors += 1  # a thread cannot respawn itself or an ancestor
                continue
            old = self.threads.get(tid)
            if old is None and len(self.threads) >= self.caps.max_threads:
                self.finish(Status.CAP_EXCEEDED, f"more than {self.caps.max_threads} threads")
                return
            if parent.depth + 1 > self.caps.max_depth:
                self.finish(Status.CAP_EXCEEDED, f"spawn deeper than {self.caps.max_depth}")
                return
            generation = 0
            if old is not None:  # spawn resets: the old incarnation and its subtree end
                self._preempt_subtree(old, include_self=old.state in LIVE)
                generation = old.generation + 1
                former = self.threads.get(old.parent or "")
                if former is not None and former is not parent and tid in former.children:
                    former.children.remove(tid)  # (the former parent may itself have been reset)
            if self.continuation is not None:  # the child continues the parent's assistant turn
                t = Thread(tid, parent.id, parent.depth + 1, list(parent.segments))
                t.assistant = [*(parent.assistant or ()), *self.continuation.fork(parent, tid, body)]
            else:
                t = Thread(tid, parent.id, parent.depth + 1, [*self._first_prompt(tid, body)])
            t.generation = generation
            t.ready_cp, t.ready_level, t.ready_tail = cp, level, tail
            self.threads[tid] = t
            self._consumed[tid] = parent.id
            if tid not in parent.children:
                parent.children.append(tid)
            self.metrics.max_depth = max(self.metrics.max_depth, t.depth)
        self.metrics.n_threads = len(self.threads)

    def _send(self, sender: Thread, ids: tuple[str, ...], payload: str, cp: float, level: int, call: int,
              tail: float | None = None) -> None:
        # one Message object for every recipient: it is never mutated, and a 25x25 MPLM cell
        # sends to 73 peers at once
        self._seq += 1
        msg = Message(sender.id, payload, self._seq, cp, level, call, tail)
        self.chars += len(payload) + 8 * len(ids)  # one payload; a reference per inbox
        threads, dirty, max_inbox = self.threads, self._dirty, self.caps.max_inbox
        delivered = 0
        for tid in ids:
            t = threads.get(tid)
            if t is None or t.state not in LIVE:
                self.metrics.n_dropped_messages += 1  # unknown or stopped: dropped (docs/protocols.md §1)
                continue
            t.inbox.append(msg)
            delivered += 1
            if t.state is ThreadState.WAITING:
                dirty[tid] = t
            if len(t.inbox) > max_inbox:
                self.metrics.n_messages += delivered
                self.finish(Status.CAP_EXCEEDED, f"inbox of thread {tid} over {max_inbox} messages")
                return
        self.metrics.n_messages += delivered

    def wake(self) -> None:
        """Threads whose recv can now complete become runnable with the messages appended.

        Only threads whose inbox or wait changed since the last wake can have become ready
        (`_dirty`); they wake in id order, as a scan over all threads would."""
        if not self._dirty:
            return
        dirty = sorted(self._dirty.values(), key=lambda t: thread_sort_key(t.id))
        self._dirty.clear()
        for t in dirty:
            if t.state is ThreadState.WAITING and t.ready():
                msgs = t.take_messages()
                # counted before the messages are copied into the prompt: one resume of a
                # thread that received huge payloads must not be what exhausts memory
                self.chars += len(t.last_kept) + sum(len(m.payload) for m in msgs)
                if self._over_chars():
                    return
                grown = (resume_segments(t.last_kept, [m.payload for m in msgs])
                         if self.dialect is None else self.dialect.resume(t, msgs))
                target = t.segments if t.assistant is None else t.assistant
                if isinstance(grown, Rewind):
                    del target[len(target) - grown.drop:]
                    grown = grown.segments
                target.extend(grown)
                t.ready_cp = max([t.ready_cp] + [m.cp for m in msgs])
                t.ready_level = max([t.ready_level] + [m.level for m in msgs])
                tails = [x for x in [t.ready_tail, *(m.tail for m in msgs)] if x is not None]
                t.ready_tail = max(tails) if tails else None
                t.waiting_for = None
                t.state = ThreadState.RUNNABLE
                self._consumed[t.id] = ",".join(dict.fromkeys(m.sender for m in msgs))
                if self.continuation is not None and self.continuation.closes(t, msgs):
                    self._close_at_join(t)
                    if self.done:
                        return

    def _close_at_join(self, t: Thread) -> None:
        """A continuation dialect ends the thread at its join, with no further step (ThreadWeaver:
        a branch cut by EOS or its length closes the block and the trace)."""
        self._end_thread(t, "stop")
        if t.id == MASTER_ID:
            self.metrics.answer = "".join(t.assistant if t.assistant is not None else t.segments)
            self.finish(Status.OK)
            # the trace ends at the join: its critical path is the slowest branch's end
            self.metrics.critical_path_tokens = max(self.metrics.critical_path_tokens, t.ready_cp)

    def _end_thread(self, thread: Thread, why: str) -> None:
        thread.state = ThreadState.STOPPED
        thread.ended_by = why
        thread.inbox.clear()
        if thread.id != MASTER_ID:  # a stop preempts the thread's whole spawn subtree
            for cid in thread.children:
                self._preempt_subtree(self.threads[cid], include_self=True)

    def _preempt_subtree(self, root: Thread, include_self: bool) -> None:
        stack = [root] if include_self else [self.threads[c] for c in root.children]
        while stack:
            t = stack.pop()
            if t.state in LIVE:
                t.state = ThreadState.PREEMPTED
                t.ended_by = "preempted"
                t.inbox.clear()
            stack.extend(self.threads[c] for c in t.children)

    def _is_ancestor(self, tid: str, thread: Thread) -> bool:
        p = thread.parent
        while p is not None:
            if p == tid:
                return True
            p = self.threads[p].parent
        return False

    def _over_chars(self) -> bool:
        """End the sample when it holds more characters than its cap (hostile output: a huge
        payload sent to every thread, resumed again and again, must not exhaust memory)."""
        if self.chars <= self.caps.max_sample_chars:
            return False
        self.finish(Status.CAP_EXCEEDED, f"more than {self.caps.max_sample_chars} characters of "
                                         "prompts, messages and responses")
        return True

    # -- ending --------------------------------------------------------------------------
    def deadlock(self) -> None:
        """No thread can run and none is in flight: say why as precisely as the record allows."""
        ended = [t.ended_by for t in self.threads.values()]
        if "truncated" in ended:
            self.finish(Status.TRUNCATED, "a thread hit max_tokens without a terminal directive")
        elif "protocol_error" in ended:
            self.finish(Status.PROTOCOL_ERROR, "a thread wrote neither recv nor stop")
        else:
            waiting = [t.id for t in self.threads.values() if t.state is ThreadState.WAITING]
            self.finish(Status.DEADLOCK, f"{len(waiting)} threads wait forever (first: {waiting[:3]})")

    def finish(self, status: Status, detail: str = "") -> None:
        if self.done:
            return
        self.done = True
        self.metrics.status = status
        self.metrics.detail = detail
        for t in self.threads.values():
            if t.state in LIVE:
                t.state = ThreadState.PREEMPTED
                t.ended_by = "preempted"
        m = self.metrics
        m.n_threads = len(self.threads)
        # the critical path is the value at the final step: the master's stop when there is one
        scored = status is Status.OK or (status is Status.TRUNCATED and m.answer is not None)
        ends = [c.cp_end for c in self.calls if c.thread_id == MASTER_ID] if scored else []
        m.critical_path_tokens = max(ends or [c.cp_end for c in self.calls] or [0.0])
