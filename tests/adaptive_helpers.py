"""Running one continuation dialect over the real runtime with a scripted policy (tests only)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from toys import CharCounter

from mplm_bench.backends.scripted import ScriptedBackend
from mplm_bench.runtime.backend import ASSISTANT_MARK, Request, Sampling
from mplm_bench.runtime.caps import Caps
from mplm_bench.runtime.scheduler import Scheduler
from mplm_bench.runtime.world import World

PROMPT = "Compute it.\n\nPlease reason step by step, and put your final answer within \\boxed{}."


class Recording(ScriptedBackend):
    """The scripted backend, keeping every request it was sent."""

    def __init__(self, policy: Callable[[str], str]) -> None:
        super().__init__(policy, counter=CharCounter())
        self.requests: list[Request] = []

    async def generate(self, request: Request):  # type: ignore[override]
        self.requests.append(request)
        return await super().generate(request)


def split(text: str) -> tuple[str, str | None]:
    """(user text, assistant text so far or None) of a policy's input."""
    user, marked, assistant = text.partition(ASSISTANT_MARK)
    return user, (assistant if marked else None)


def run(dialect, policy: Callable[[str], str], sampling: Sampling | None = None,
        kind: str = "async") -> tuple[World, Recording]:
    backend = Recording(policy)
    world = World("s", PROMPT, Caps(), sampling or Sampling(max_tokens=10_000), dialect=dialect)
    asyncio.run(Scheduler(backend).run(world, kind))  # type: ignore[arg-type]
    return world, backend
