"""A run's instances and its samples still to run, made one at a time as they are needed.

A generated task that can build instance i alone (`Task.instance_at`) is never held whole: a run
of 1,000,000 samples starts its first sample at once and keeps only the samples in flight
(issue 22.10). A data file, or a task that only generates in bulk, is a list as before. A resume
skips done samples by id (`Task.instance_id`: no puzzle built for them).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mplm_bench.results.store import Key
    from mplm_bench.tasks.base import Instance, Task


class Instances:
    """Instances 0..n-1 of a task, lazily (`task`/`seed`) or from a list (`items`)."""

    def __init__(self, task: Task | None = None, n: int = 0, seed: int = 0,
                 items: list[Instance] | None = None) -> None:
        self.task, self.seed = task, seed
        self.items = items
        self.n = len(items) if items is not None else n

    @classmethod
    def of(cls, task: Task, n: int, seed: int) -> Instances:
        first = task.instance_at(0, seed)  # also checks the options now, not mid-run
        if first is None:
            return cls(items=task.generate(n, seed))
        return cls(task, n, seed)

    @property
    def lazy(self) -> bool:
        return self.items is None

    def __len__(self) -> int:
        return self.n

    def __bool__(self) -> bool:
        return self.n > 0

    def at(self, i: int) -> Instance:
        if self.items is not None:
            return self.items[i]
        assert self.task is not None
        inst = self.task.instance_at(i, self.seed)
        assert inst is not None
        return inst

    def __iter__(self) -> Iterator[Instance]:
        return (self.at(i) for i in range(self.n))

    def __getitem__(self, i: int) -> Instance:
        return self.at(i)

    def id_at(self, i: int) -> str:
        if self.items is None and self.task is not None:
            iid = self.task.instance_id(i, self.seed)
            if iid is not None:
                return iid
        return self.at(i).id


class Todo:
    """The (instance, repeat) pairs not in `done`, in order; `len` counts without building them."""

    def __init__(self, instances: Instances, repeats: int, done: set[Key]) -> None:
        self.instances, self.repeats = instances, repeats
        self.done = done
        self._count: int | None = None

    def refresh(self, done: set[Key]) -> None:
        """What is on disk now (read again under the run folder's lock)."""
        self.done, self._count = done, None

    def __iter__(self) -> Iterator[tuple[Instance, int]]:
        for i in range(len(self.instances)):
            repeats = self._missing(i)
            if repeats:
                inst = self.instances.at(i)
                for r in repeats:
                    yield inst, r

    def _missing(self, i: int) -> list[int]:
        if not self.done:
            return list(range(self.repeats))
        iid = self.instances.id_at(i)
        return [r for r in range(self.repeats) if (iid, r) not in self.done]

    def __len__(self) -> int:
        if self._count is None:
            total = len(self.instances) * self.repeats
            self._count = total if not self.done else sum(len(self._missing(i)) for i in range(len(self.instances)))
        return self._count

    def __bool__(self) -> bool:
        return len(self) > 0
