"""Continuation requests and per-request stop strings, at the backends."""

from __future__ import annotations

import asyncio
import json

import pytest
from toys import CharCounter

from mplm_bench.backends.engine_common import counter_renderer
from mplm_bench.backends.scripted import ScriptedBackend
from mplm_bench.runtime.backend import ASSISTANT_MARK, Request, Sampling, cut_at_stop

USER = ("Compute 12 × 34.",)
RESPONSE = "Split it.\n<Parallel>\n<Outlines>\n<Outline>1: 12 × 30</Outline>\n</Outlines>"
HEADER = "\n<Thread>\n1:"


def req(assistant: tuple[str, ...] | None, stop: tuple[str, ...] = (), rid: str = "s/0") -> Request:
    return Request(rid, "0", USER, "You are a helpful assistant.", Sampling(max_tokens=50), assistant, stop)


def test_child_prompt_is_parent_prompt_plus_header_byte_for_byte_and_token_for_token():
    r = counter_renderer(None)  # the embedded SmolLM2's own tokenizer and chat template
    plain, parent, child = req(None), req(()), req((RESPONSE, HEADER))
    assert r(parent).text == r(plain).text and r(parent).token_ids == r(plain).token_ids
    assert r(plain).text.endswith("<|im_start|>assistant\n")  # the generation prompt
    p, c = r(parent), r(child)
    assert c.text == p.text + RESPONSE + HEADER
    # the shared prefix in token ids, what the engine's prefix cache serves
    assert c.token_ids[: len(p.token_ids)] == p.token_ids
    sibling = r(req((RESPONSE, "\n<Thread>\n2:")))
    n = len(p.token_ids) + len(r._piece(RESPONSE))
    assert sibling.token_ids[:n] == c.token_ids[:n]


def test_cut_at_stop_keeps_the_earliest_stop_string():
    assert cut_at_stop("a</Path>b</Summary>", ("</Summary>", "</Path>")) == ("a</Path>", "</Path>")
    assert cut_at_stop("no stop", ("</Path>",)) == ("no stop", None)
    assert cut_at_stop("x<Parallel>", ()) == ("x<Parallel>", None)


def test_scripted_applies_stops_and_records_the_match():
    seen = []

    def policy(text: str) -> str:
        seen.append(text)
        return "think </Outlines> and more"
    b = ScriptedBackend(policy, counter=CharCounter())
    done = asyncio.run(b.generate(req(("so far",), ("</Outlines>",))))
    assert done.text == "think </Outlines>" and done.stop_reason == "</Outlines>" and done.finish_reason == "stop"
    assert seen == ["Compute 12 × 34." + ASSISTANT_MARK + "so far"]
    cut = asyncio.run(b.generate(Request("s/1", "1", USER, None, Sampling(max_tokens=3), ("so far",), ("</Outlines>",))))
    assert cut.finish_reason == "length" and cut.stop_reason is None


class _Server:
    """An OpenAI-compatible /v1/completions stream (httpx MockTransport): what the client sends."""

    def __init__(self, text: str, stop_reason: object) -> None:
        self.text, self.stop_reason, self.bodies = text, stop_reason, []

    def __call__(self, request):
        import httpx

        body = json.loads(request.content)
        self.bodies.append(body)
        events = [{"choices": [{"text": self.text, "finish_reason": "stop", "stop_reason": self.stop_reason}]},
                  {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4}}]
        data = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
        return httpx.Response(200, text=data, headers={"content-type": "text/event-stream"})


@pytest.mark.parametrize(("reported", "expected"), [("</Thread>", "</Thread>"), (None, "</Thread>"), (7, "</Thread>")])
def test_openai_sends_stops_and_token_ids_and_records_the_match(monkeypatch, reported, expected):
    import httpx

    from mplm_bench.backends.openai import OpenAIBackend, OpenAIOptions

    monkeypatch.setattr(OpenAIBackend, "_probe", lambda self: [{"id": "m", "max_model_len": 2048}])
    server = _Server(" one</Thread>", reported)
    b = OpenAIBackend(OpenAIOptions(base_url="http://127.0.0.1:9/v1", tokenizer="smollm2", stop_probe=False))

    async def go():
        b._client = httpx.AsyncClient(transport=httpx.MockTransport(server))
        b._gate = asyncio.Semaphore(4)
        try:
            return await b.generate(req((RESPONSE, HEADER), ("</Thread>",))), await b.generate(req(None))
        finally:
            await b.aclose()
    cont, plain = asyncio.run(go())
    body, plain_body = server.bodies
    # trimmed by the server, put back from the reported stop; special tokens kept in the text
    assert body["stop"] == ["</Thread>"] and body["include_stop_str_in_output"] is False
    assert body["skip_special_tokens"] is False and body["spaces_between_special_tokens"] is False
    assert body["prompt"] == b._renderer(req((RESPONSE, HEADER))).token_ids  # a continuation goes as ids
    assert isinstance(plain_body["prompt"], str) and "stop" not in plain_body
    assert "skip_special_tokens" not in plain_body
    assert cont.stop_reason == expected and cont.text == " one</Thread>"
