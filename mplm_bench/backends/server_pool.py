"""Which of several servers a request goes to: pinning, least-loaded placement, failover (pure).

The `openai` backend over a list of servers (`-M base_url=A,B`, backends/openai_pool.py) asks this
module where each request goes and tells it how each ended; nothing here does I/O, so its rules
are tested without servers (tests/backends/test_server_pool.py).

- **Pinned**: every request of a sample goes to the sample's server, so a thread's next step and
  its children find their prompt's prefix in that server's cache.
- **Least loaded**: a sample's first request goes to the live server with the fewest requests in
  flight (ties: the one that least recently took a new sample, so idle servers alternate).
- **Failover**: a request that failed because its server did (refused, reset, timed out, 5xx after
  the client's retries) is sent again elsewhere and its sample is pinned there from then on. A
  server that refuses a connection is marked down at once; one that fails otherwise is marked down
  after `down_after` failures in a row (a success in between clears them). A down server stays
  down for the run. With every server down, `route` answers None.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import dataclass

PIN_LIMIT = 1 << 16  # samples remembered (least recently used forgotten: those have ended)


def sample_of(request_id: str) -> str:
    """The sample key of a request id: the World names a request `{sample key}/{call}` (a retry
    appends `~retryN` to the call, backends/retry.py); an id without `/` is its own sample."""
    key, sep, _ = request_id.rpartition("/")
    return key if sep else request_id


@dataclass(slots=True)
class ServerState:
    url: str  # as messages may show it (no password)
    in_flight: int = 0
    strikes: int = 0  # failures in a row
    down: str | None = None  # why it was marked down; None: live
    samples: int = 0  # samples placed on it (new or moved here)
    requests: int = 0  # requests sent to it
    failures: int = 0  # requests that failed because of it
    last_placed: int = -1  # when it last took a new sample (a placement counter)


class ServerPool:
    def __init__(self, urls: Sequence[str], down_after: int = 3, pin_limit: int = PIN_LIMIT) -> None:
        if not urls:
            raise ValueError("a server pool needs at least one server")
        self.servers = [ServerState(u) for u in urls]
        self.down_after = down_after
        self._pins: OrderedDict[str, int] = OrderedDict()
        self._pin_limit = pin_limit
        self._placed = 0

    @property
    def live(self) -> list[int]:
        return [i for i, s in enumerate(self.servers) if s.down is None]

    def pinned(self, sample: str) -> int | None:
        return self._pins.get(sample)

    def route(self, sample: str, avoid: Collection[int] = ()) -> int | None:
        """The server for the sample's next request: its pinned one if that is live and not in
        `avoid` (servers this request already failed on), else the least loaded such server, which
        the sample is pinned to from then on. None when no live server is left outside `avoid`."""
        i = self._pins.get(sample)
        if i is not None and self.servers[i].down is None and i not in avoid:
            self._pins.move_to_end(sample)
            return i
        candidates = [j for j in self.live if j not in avoid]
        if not candidates:
            return None
        best = min(candidates, key=lambda j: (self.servers[j].in_flight, self.servers[j].last_placed, j))
        self._pins[sample] = best
        self._pins.move_to_end(sample)
        if len(self._pins) > self._pin_limit:
            self._pins.popitem(last=False)
        s = self.servers[best]
        s.samples += 1
        s.last_placed = self._placed
        self._placed += 1
        return best

    def begin(self, i: int) -> None:
        self.servers[i].in_flight += 1
        self.servers[i].requests += 1

    def end(self, i: int) -> None:
        self.servers[i].in_flight -= 1

    def succeeded(self, i: int) -> None:
        self.servers[i].strikes = 0

    def failed(self, i: int, why: str, refused: bool = False) -> bool:
        """Count a failure of server `i` (`refused`: it did not accept a connection); True when
        this marks it down."""
        s = self.servers[i]
        s.failures += 1
        s.strikes += 1
        if s.down is None and (refused or s.strikes >= self.down_after):
            s.down = why
            return True
        return False

    def summary(self) -> list[dict[str, object]]:
        """Per server: requests, samples placed, failures and whether it is down (for logs)."""
        return [{"url": s.url, "requests": s.requests, "samples": s.samples, "failures": s.failures,
                 "down": s.down} for s in self.servers]
