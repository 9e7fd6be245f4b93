"""Which steps become training rows: the split by instance, worker down-sampling, de-duplication,
master up-sampling. Every choice is seeded and independent of processing order."""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Iterable

from mplm_bench.export.options import ExportOptions
from mplm_bench.export.steps import Step


def digest(*parts: str) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for p in parts:
        h.update(p.encode())
        h.update(b"\0")
    return h.digest()


def validation_groups(groups: Iterable[bytes], fraction: float, seed: int) -> set[bytes]:
    """The problems (by group digest) that go to validation: round(fraction × problems) of them,
    at least one when the fraction is above 0, never all; a seeded choice. A problem is whole in
    one split, so two instances of the same problem cannot leak across it."""
    distinct = sorted(set(groups))
    if fraction <= 0 or len(distinct) < 2:
        return set()
    k = min(len(distinct) - 1, max(1, int(fraction * len(distinct) + 0.5)))
    return set(random.Random(f"mplm-bench/split/{seed}").sample(distinct, k))


class Selector:
    """Applies the row options to one sample's steps at a time, counting what it leaves out."""

    def __init__(self, opts: ExportOptions) -> None:
        self.opts = opts
        self._seen: set[bytes] = set()
        self.dropped = Counter[str]()  # reason -> steps left out

    def _workers(self, protocol: str, instance_id: str, steps: list[Step]) -> list[Step]:
        o = self.opts
        workers = [i for i, s in enumerate(steps) if s.role != "master"]
        if o.drop_workers:
            keep: set[int] = set()
        elif o.worker_fraction >= 1.0:
            return steps
        else:  # exactly round(F × workers) per sample, chosen by a per-sample seed
            k = int(o.worker_fraction * len(workers) + 0.5)
            rng = random.Random(f"mplm-bench/workers/{o.seed}/{protocol}/{instance_id}")
            keep = set(rng.sample(workers, k))
        self.dropped["worker step sampled out"] += len(workers) - len(keep)
        return [s for i, s in enumerate(steps) if s.role == "master" or i in keep]

    def select(self, protocol: str, instance_id: str, steps: list[Step]) -> list[tuple[Step, int]]:
        """(step, copies) to write, in the sample's call order."""
        out = []
        for s in self._workers(protocol, instance_id, steps):
            if self.opts.dedupe:
                key = digest(s.system or "", s.prompt, s.assistant_prefix, s.response)
                if key in self._seen:
                    self.dropped["duplicate chat"] += 1
                    continue
                self._seen.add(key)
            out.append((s, self.opts.upsample_master if s.role == "master" else 1))
        return out
