"""A sweep: a YAML grid of runs in one output root (schema, and its expansion to RunConfigs).

```yaml
out: results/sudoku_scaling          # output root (relative to where you run the command)
backends: [scripted]                 # names, or {name, models: [...], options: {}, grid: {}}
tasks:
  - name: sudoku
    options: {p: 0.5}                # fixed task options (-T)
    grid: {size: [4, 9, 16, 25]}     # one cell per value (several keys: their product)
strategies: [cot, fj, mplm]          # names, or {name, options: {}, grid: {}} (-S)
seeds: [0]
n: 20                                # instances per cell
overrides:                           # later entries win; `where` as in `check` specs
  - where: {size: 25}
    n: 3
  - where: {strategy: cot, size: 25}
    skip: true
```

Cells are the product backends × models × backend grid × tasks × task grid × strategies ×
strategy grid × seeds, in that order. `where` keys: task, strategy, backend, model, seed and
any option name; a list value matches any of its items.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mplm_bench.config import ConfigError, RunConfig, read_yaml


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    options: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, list[Any]] = Field(default_factory=dict)

    def settings(self) -> list[dict[str, Any]]:
        """The fixed options merged with each point of the grid."""
        keys = list(self.grid)
        return [self.options | dict(zip(keys, combo, strict=True))
                for combo in itertools.product(*(self.grid[k] for k in keys))]


class TaskSpec(_Spec):
    data: str | None = None  # local file or dataset id instead of generated instances


class StrategySpec(_Spec):
    pass


def _default_model() -> list[str | None]:
    return [None]  # one run, on the backend's own default model


class BackendSpec(_Spec):
    models: list[str | None] = Field(default_factory=_default_model)


class Override(BaseModel):
    model_config = ConfigDict(extra="forbid")

    where: dict[str, Any] = Field(default_factory=dict)
    n: int | None = Field(None, ge=1)
    repeats: int | None = Field(None, ge=1)
    concurrency: int | None = Field(None, ge=1)
    skip: bool = False


def _named(v: Any) -> Any:
    return [{"name": x} if isinstance(x, str) else x for x in v] if isinstance(v, list) else v


class SweepConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    out: Path = Path("results")
    backends: list[BackendSpec] = Field(default_factory=lambda: [BackendSpec(name="vllm")])
    tasks: list[TaskSpec] = Field(min_length=1)
    strategies: list[StrategySpec] = Field(min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    n: int = Field(10, ge=1)
    repeats: int = Field(1, ge=1)
    concurrency: int = Field(64, ge=1)
    log_prompts: bool = False
    overrides: list[Override] = Field(default_factory=list)

    @field_validator("backends", "tasks", "strategies", mode="before")
    @classmethod
    def by_name(cls, v: Any) -> Any:
        """`[cot, fj]` is short for `[{name: cot}, {name: fj}]`."""
        return _named(v)


def load_sweep(path: Path) -> SweepConfig:
    """Read and validate a sweep file; any problem is one ConfigError line naming the field."""
    raw = read_yaml(path)
    try:
        return SweepConfig.model_validate(raw if raw is not None else {})
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"]) or "top level"
        raise ConfigError(f"{path}: {loc}: {err['msg']}") from None


def _matches(where: dict[str, Any], facts: dict[str, Any]) -> bool:
    for key, want in where.items():
        if key not in facts:
            return False
        options = want if isinstance(want, list) else [want]
        if facts[key] not in options:
            return False
    return True


def _points(sweep: SweepConfig) -> Iterator[tuple[Any, ...]]:
    for b in sweep.backends:
        for model, b_opts in itertools.product(b.models, b.settings()):
            for t in sweep.tasks:
                for t_opts in t.settings():
                    for s in sweep.strategies:
                        for s_opts, seed in itertools.product(s.settings(), sweep.seeds):
                            yield b, model, b_opts, t, t_opts, s, s_opts, seed


def expand(sweep: SweepConfig, out: Path | None = None) -> list[RunConfig]:
    """The sweep's cells as RunConfigs (skipped cells left out, duplicates merged)."""
    cells: dict[str, RunConfig] = {}
    used = [False] * len(sweep.overrides)
    for b, model, b_opts, t, t_opts, s, s_opts, seed in _points(sweep):
        facts = b_opts | s_opts | t_opts | {"task": t.name, "strategy": s.name, "backend": b.name,
                                            "model": model, "seed": seed}
        n, repeats, concurrency, skip = sweep.n, sweep.repeats, sweep.concurrency, False
        for i, o in enumerate(sweep.overrides):
            if _matches(o.where, facts):
                used[i] = True
                n, repeats = o.n or n, o.repeats or repeats
                concurrency, skip = o.concurrency or concurrency, o.skip or skip
        if skip:
            continue
        try:
            cfg = RunConfig(task=t.name, task_options=t_opts, strategy=s.name, strategy_options=s_opts,
                            backend=b.name, backend_options=b_opts, model=model, seed=seed,
                            data=t.data, repeats=repeats, n=n, concurrency=concurrency,
                            out=out or sweep.out, log_prompts=sweep.log_prompts)
        except ValidationError as e:
            raise ConfigError(f"cell {cell_label(facts)}: {e.errors()[0]['msg']}") from None
        prev = cells.get(cfg.run_id())
        if prev is None or prev.n < cfg.n:
            cells[cfg.run_id()] = cfg
    for i, hit in enumerate(used):
        if not hit:
            raise ConfigError(f"overrides.{i}: where {sweep.overrides[i].where} matches no cell")
    return list(cells.values())


def cell_label(facts: dict[str, Any] | RunConfig) -> str:
    """`sudoku size=9 · mplm` (+ strategy/backend options and seed when set)."""
    if isinstance(facts, RunConfig):
        c = facts
        opts = " ".join(f"{k}={v}" for k, v in {**c.task_options, **c.strategy_options}.items())
        label = f"{c.task}{' ' + opts if opts else ''} · {c.strategy}"
        return label + (f" · seed {c.seed}" if c.seed else "") + (f" · {c.model}" if c.model else "")
    keys = ("task", "strategy", "backend", "model", "seed")
    rest = " ".join(f"{k}={v}" for k, v in facts.items() if k not in keys)
    return f"{facts['task']} {facts['strategy']} {facts['backend']} {rest}".strip()
