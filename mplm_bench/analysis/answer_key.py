"""A branch's answer normalised and graded by the run's own task, as the run scored its final one.

The analysis never re-runs a model, but grading a branch needs what grading the sample needed: the
task (its `score`: Sudoku's grid parser, SAT's verdict reader, `last_boxed` + math-verify, ...) and
the instance. Both are rebuilt from the manifest: the task from its name and options, the instances
from the same seed or data file (generation is deterministic: tasks/base.py `generate`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from mplm_bench.config import ConfigError

log = logging.getLogger(__name__)

Grade = Callable[[str, str | None], tuple[str | None, bool]]  # (instance id, answer) -> (parsed, correct)


class AnswerKey:
    """`key(instance_id, answer) -> (parsed, correct)` with the run's task; cached per answer,
    since the branches of a sample often agree word for word."""

    def __init__(self, task: Any, instances: Callable[[str], Any]) -> None:
        self.task = task
        self._instance = instances
        self._cache: dict[tuple[str, str | None], tuple[str | None, bool]] = {}

    def __call__(self, instance_id: str, answer: str | None) -> tuple[str | None, bool]:
        key = (instance_id, answer)
        if key not in self._cache:
            s = self.task.score(self._instance(instance_id), answer)
            self._cache[key] = (s.parsed, bool(s.correct))
        return self._cache[key]

    @classmethod
    def of_manifest(cls, manifest: dict[str, Any]) -> AnswerKey:
        """The key of a run from its manifest; ConfigError when its task or instances cannot be
        rebuilt here (a plugin not installed, a data file gone)."""
        from mplm_bench import registry

        config = manifest.get("config") or {}
        name = config.get("task")
        if not name:
            raise ConfigError("the manifest names no task")
        try:
            task_cls = registry.tasks.get(name)
            options = manifest.get("task_options") or config.get("task_options") or {}
            task = task_cls(task_cls.Options(**options))
        except Exception as e:  # an unknown plugin, options this version refuses
            raise ConfigError(f"task {name!r} cannot be rebuilt: {e}") from None
        n = max(int(config.get("n") or 0), int(manifest.get("n_instances") or 0))
        return cls(task, _instances(task, config, n))


def _instances(task: Any, config: dict[str, Any], n: int) -> Callable[[str], Any]:
    """instance id -> Instance, made on demand: a generated task that can build instance i alone
    is indexed by id without building the others (instances.py)."""
    seed, data = int(config.get("seed") or 0), config.get("data")
    made: dict[str, Any] = {}
    index: dict[str, int] = {}
    if data:
        try:
            made = {i.id: i for i in task.load(data, None)}
        except Exception as e:
            raise ConfigError(f"{data}: instances cannot be loaded again ({e})") from None
    elif task.instance_id(0, seed) is not None:
        index = {task.instance_id(i, seed): i for i in range(n)}
    else:
        made = {i.id: i for i in task.generate(n, seed)}

    def get(iid: str) -> Any:
        if iid not in made and iid in index:
            made[iid] = task.instance_at(index[iid], seed)
        if iid not in made:
            raise KeyError(iid)
        return made[iid]

    return get
