"""`-b openai` over several servers (issue 40): the pool's rules (pinning, least loaded, failover,
all down) without I/O, the pooled backend over fake members, and whole runs over canned servers
(tests/checkpoint_server.py) one of which dies mid-run. tests/engine/test_engine_servers.py runs two
real `vllm serve` processes."""

from __future__ import annotations

import asyncio
import json

import checkpoint_server as cs
import programmed_model as pm
import pytest

from mplm_bench import api
from mplm_bench.backends.openai import server_urls
from mplm_bench.backends.pooled import PooledBackend, check_agreement
from mplm_bench.backends.server_pool import ServerPool, sample_of
from mplm_bench.config import ConfigError, RunConfig
from mplm_bench.plan import plan
from mplm_bench.runtime.backend import BackendError, Completion, Request, Sampling

# -- the pool's rules ----------------------------------------------------------------------------


def test_a_sample_stays_on_its_server_and_new_samples_go_to_the_least_loaded():
    pool = ServerPool(["a", "b", "c"])
    first = [pool.route(f"s{k}") for k in range(3)]
    assert first == [0, 1, 2]  # all idle: each takes a new sample in turn
    for i in first:
        pool.begin(i)
    pool.begin(0)  # s0 has a second request in flight
    assert pool.route("s0") == 0 and pool.route("s2") == 2  # pinned, however loaded
    pool.end(1)  # b is idle now
    assert pool.route("s3") == 1
    pool.begin(1)
    pool.end(2)
    assert pool.route("s4") == 2
    assert [s.samples for s in pool.servers] == [1, 2, 2]


def test_ties_alternate_between_idle_servers():
    pool = ServerPool(["a", "b"])
    assert [pool.route(f"s{k}") for k in range(6)] == [0, 1, 0, 1, 0, 1]


def test_a_refused_server_is_down_at_once_and_others_after_failures_in_a_row():
    pool = ServerPool(["a", "b", "c"], down_after=2)
    assert pool.failed(0, "ConnectError", refused=True) and pool.live == [1, 2]
    assert not pool.failed(1, "ReadError")
    pool.succeeded(1)  # a success clears the count
    assert not pool.failed(1, "ReadError")
    assert pool.failed(1, "ReadError") and pool.live == [2]
    assert not pool.failed(1, "ReadError")  # marked down once


def test_failover_moves_the_sample_and_all_down_leaves_nowhere():
    pool = ServerPool(["a", "b"])
    assert pool.route("s") == 0
    assert pool.route("s", avoid=[0]) == 1  # its request failed on a: re-sent to b, pinned there
    assert pool.pinned("s") == 1 and pool.route("s") == 1
    assert pool.route("t", avoid=[0, 1]) is None
    pool.failed(1, "gone", refused=True)
    assert pool.route("s") == 0  # its server died: back to the live one
    pool.failed(0, "gone", refused=True)
    assert pool.route("s") is None and pool.route("new") is None


def test_pins_are_bounded():
    pool = ServerPool(["a", "b"], pin_limit=2)
    for k in range(3):
        pool.route(f"s{k}")
    assert pool.pinned("s0") is None and pool.pinned("s2") is not None


def test_the_sample_key_of_a_request_id():
    assert sample_of("sudoku-4/0/mplm/3") == "sudoku-4/0/mplm"
    assert sample_of("key/12~retry2") == "key"  # a retry of call 12 (backends/retry.py)
    assert sample_of("ref0") == "ref0"


def test_server_urls(tmp_path):
    assert server_urls("http://h:8000") == (["http://h:8000/v1"], False)
    assert server_urls("http://a:1/v1, http://b:2/v1/,") == (["http://a:1/v1", "http://b:2/v1"], True)
    assert server_urls("http://a:1/v1,") == (["http://a:1/v1"], True)  # a pool of one (keyed as a pool)
    assert server_urls(["http://a:1"]) == (["http://a:1/v1"], True)
    listed = tmp_path / "servers.txt"
    listed.write_text("# the cluster\nhttp://a:1/v1\n\nhttp://b:2  # second\nhttp://a:1/v1\n")
    assert server_urls(str(listed)) == (["http://a:1/v1", "http://b:2/v1"], True)
    assert server_urls(f"http://c:3,{listed}")[0] == ["http://c:3/v1", "http://a:1/v1", "http://b:2/v1"]
    with pytest.raises(BackendError, match="neither an http"):
        server_urls("127.0.0.1:8000")
    listed.write_text("http://a:1\nb:2\n")
    with pytest.raises(BackendError, match=r"servers\.txt:2: 'b:2' is not an http\(s\) URL"):
        server_urls(str(listed))
    with pytest.raises(BackendError, match="names no server"):
        server_urls(" , ")


def test_servers_must_agree_in_one_line():
    same = {"id": "m", "tokenizer_digest": "abc"}
    check_agreement(["a", "b"], [same, dict(same)])
    with pytest.raises(BackendError, match="do not serve the same model: a has id='m', b has id='other'") as e:
        check_agreement(["a", "b"], [same, same | {"id": "other"}])
    assert "\n" not in str(e.value)


# -- the pooled backend over fake members ----------------------------------------------------------


class Member:
    """A single-server backend double: answers with its name, or raises `fail`."""

    def __init__(self, name: str, fail: BaseException | None = None, confs: int = 0) -> None:
        self.name, self.fail, self.confs = name, fail, confs
        self.model, self.options, self.max_model_len, self.stop_report = "m", None, 2048, "reported"
        self.served = {"id": "m", "root": None, "tokenizer_digest": "d"}
        self.seen: list[str] = []
        self.aborted: list[str] = []
        self.gate: asyncio.Event | None = None

    async def generate(self, request: Request) -> Completion:
        self.seen.append(request.request_id)
        if self.confs and request.on_confidences is not None:
            request.on_confidences([0.5] * self.confs)
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return Completion(self.name, 3, 1, "stop")

    async def abort(self, request_id: str) -> None:
        self.aborted.append(request_id)
        if self.gate is not None:
            self.fail = None
            self.gate.set()

    def describe(self) -> dict[str, object]:
        return {"backend": "openai", "base_url": self.name}

    def render(self, request: Request) -> str:
        return request.prompt

    async def aclose(self) -> None:
        return None


def classify(e: BaseException) -> str | None:
    return {ConnectionRefusedError: "refused", ConnectionResetError: "failed"}.get(type(e))


def req(rid: str, **kw) -> Request:
    return Request(rid, "0", ("hi",), None, Sampling(max_tokens=4), **kw)


def pooled(*members: Member, down_after: int = 3) -> PooledBackend:
    return PooledBackend("openai", members, [m.name for m in members], classify, down_after)


def test_a_request_whose_server_failed_is_sent_again_elsewhere_and_its_sample_moves():
    a, b = Member("a", ConnectionResetError("reset")), Member("b")
    backend = pooled(a, b)

    async def go():
        first = await backend.generate(req("s/0"))
        second = await backend.generate(req("s/1"))
        return first, second

    first, second = asyncio.run(go())
    assert (first.text, first.retries, second.text, second.retries) == ("b", 1, "b", 0)
    assert a.seen == ["s/0"] and b.seen == ["s/0", "s/1"]
    assert backend.pool.live == [0, 1]  # one failure is not yet down (down_after=3)
    assert backend.describe()["base_url"] == ["a", "b"] and backend.served["pool"] is True


def test_when_every_server_is_down_a_request_fails_at_once_in_one_line():
    a, b = Member("a", ConnectionRefusedError("refused")), Member("b", ConnectionRefusedError("refused"))
    backend = pooled(a, b)
    with pytest.raises(RuntimeError, match=r"^all 2 servers are down \(a: ConnectionRefusedError"):
        asyncio.run(backend.generate(req("s/0")))
    with pytest.raises(RuntimeError, match="all 2 servers are down"):
        asyncio.run(backend.generate(req("t/0")))
    assert a.seen == b.seen == ["s/0"]  # the second never reached a server


def test_a_failure_that_is_not_the_servers_is_not_sent_again():
    a, b = Member("a", ValueError("bad request")), Member("b")
    with pytest.raises(ValueError):
        asyncio.run(pooled(a, b).generate(req("s/0")))
    assert b.seen == []


def test_streamed_confidences_are_not_sent_again():
    a, b = Member("a", ConnectionResetError("cut"), confs=2), Member("b")
    heard: list[float] = []
    with pytest.raises(RuntimeError, match="after confidences were streamed"):
        asyncio.run(pooled(a, b).generate(req("s/0", on_confidences=heard.extend)))
    assert heard == [0.5, 0.5] and b.seen == []


def test_an_abort_reaches_the_server_running_it_and_an_early_one_never_starts():
    a, b = Member("a", ConnectionResetError("x")), Member("b")
    backend = pooled(a, b)

    async def go():
        a.gate = asyncio.Event()
        task = asyncio.ensure_future(backend.generate(req("s/0")))
        await asyncio.sleep(0)
        await backend.abort("s/0")
        done = await task
        await backend.abort("s/1")  # before it starts
        early = await backend.generate(req("s/1"))
        return done, early

    done, early = asyncio.run(go())
    assert a.aborted == ["s/0"] and done.text == "a"  # the member answered the abort
    assert early.finish_reason == "abort" and a.seen == ["s/0"] and b.seen == []


def test_a_failure_during_an_abort_is_an_abort_not_a_resend():
    a, b = Member("a", ConnectionResetError("x")), Member("b")
    backend = pooled(a, b)

    async def go():
        a.gate = asyncio.Event()
        task = asyncio.ensure_future(backend.generate(req("s/0")))
        await asyncio.sleep(0)
        backend._calls["s/0"].aborted = True  # the abort came; the member then failed anyway
        a.gate.set()
        return await task

    done = asyncio.run(go())
    assert done.finish_reason == "abort" and b.seen == []


# -- whole runs over canned servers -----------------------------------------------------------------


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    return cs.tokenizer(tmp_path_factory.mktemp("checkpoint"))


def run(urls, out, n=6, strategy="threadweaver", **options):
    return api.run("multiply", strategy, backend="openai", n=n, out=out, concurrency=4,
                   backend_options={"base_url": ",".join(urls), "max_tokens": 64, "max_retries": 0,
                                    "request_retries": 0, **options})


@pytest.mark.parametrize("how", ["dies", "fails"])
def test_a_run_over_two_servers_finishes_every_sample_once_when_one_goes(tok, tmp_path, how):
    """One server dies (connection dropped, then refused) or answers HTTP 500 after a few
    completions; its samples go on on the other; every sample once, all ok."""
    good = cs.Checkpoint(tok, pm.NEXT)
    after = 6  # the stop probe's 2, then 4 steps
    bad = cs.Checkpoint(tok, pm.NEXT, **({"die_after": after} if how == "dies" else {"fail_completions_after": after}))
    with cs.serve(bad) as bad_url, cs.serve(good) as good_url:
        result = run([bad_url, good_url], tmp_path)
    df = result.samples()
    assert len(df) == 6 and df["instance_id"].is_unique
    assert set(df["status"]) == {"ok"}, df[["status", "status_detail"]].to_dict("records")
    assert len(bad.bodies) > after and len(good.bodies) > 2  # both served steps (beyond their probes)
    calls = result.calls()
    assert (calls["retries"] > 0).any()  # the requests that failed over say so
    manifest = json.loads((result.dir / "manifest.json").read_text())
    assert manifest["backend"]["base_url"] == [bad_url, good_url]
    assert manifest["backend"]["served"] == manifest["config"]["served"] and manifest["config"]["served"]["pool"]


def test_when_every_server_dies_the_samples_end_engine_error(tok, tmp_path):
    a, b = cs.Checkpoint(tok, pm.NEXT, die_after=3), cs.Checkpoint(tok, pm.NEXT, die_after=3)
    with cs.serve(a) as ua, cs.serve(b) as ub:
        df = run([ua, ub], tmp_path, n=4).samples()
    assert len(df) == 4 and set(df["status"]) == {"engine_error"}
    assert df["status_detail"].str.contains("servers are down|failed on each live server").all()


def test_a_server_of_another_model_is_one_error_line(tok, tmp_path):
    other = cs.Checkpoint(tok, pm.NEXT, model="other")
    with (cs.serve(cs.Checkpoint(tok, pm.NEXT)) as ua, cs.serve(other) as ub,
          pytest.raises(ConfigError, match="not serve the same model: .* has id='checkpoint', .* has id='other'") as e):
        run([ua, ub], tmp_path)
    assert "\n" not in str(e.value) and ub in str(e.value)


def test_a_pools_run_id_keys_the_model_not_the_urls(tok, tmp_path):
    base = dict(task="multiply", strategy="cot", backend="openai", out=tmp_path, n=1)
    with cs.serve(cs.Checkpoint(tok, pm.NEXT)) as ua, cs.serve(cs.Checkpoint(tok, pm.NEXT)) as ub:
        listed = tmp_path / "servers.txt"
        listed.write_text(f"{ub}\n{ua}\n")
        ids = {plan(RunConfig(backend_options={"base_url": v}, **base)).cfg.run_id()
               for v in (f"{ua},{ub}", f"{ub},{ua}", f"{ua},", [ub], str(listed))}
        single = plan(RunConfig(backend_options={"base_url": ua}, **base)).cfg.run_id()
    assert len(ids) == 1 and single not in ids  # one URL alone is keyed as before
