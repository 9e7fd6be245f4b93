"""A recipe file: what a paper ran (model, data, prompt, sampling, repeats) and what it reported.

```yaml
name: threadweaver-multiply
title: ThreadWeaver on multiplication (its README's reference results)
source: {paper: "...", where: "README, Reference Results", url: "https://github.com/..."}
model: null                     # a hub id; null: not released (give --model)
dataset: {id: null, split: null, note: "...", example: {problem: ..., answer: ...}}
prompt: "..."                   # the prompt profile, in words (the task's prompt is what is sent)
run: {task: multiply, strategy: threadweaver, task_options: {}, strategy_options: {},
      sampling: {temperature: 1.0, top_p: 1.0, max_tokens: 8192}, repeats: 1, n: 100}
baseline: {strategy: cot, model: null}      # optional: the serial run `speedup` is measured against
reported:                        # the paper's figures: measured within `tol` (absolute) or `rel_tol`
  - {metric: accuracy, value: 0.99, tol: 0.02}
  - {metric: speedup, value: 1.26, rel_tol: 0.1}
offline: {task_options: {}, n: 20}  # the scripted run (-b scripted): generated problems, or --data
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mplm_bench.config import ConfigError, read_yaml

RECIPES = Path(__file__).resolve().parents[2] / "configs" / "recipes"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Source(_Strict):
    paper: str
    where: str  # the table or section the figures are from
    url: str
    code: str | None = None  # the file that computes them, when the code does


class Dataset(_Strict):
    id: str | None = None  # a hub dataset id (None: generated, or a local file)
    split: str | None = None
    note: str = ""
    example: dict[str, Any] | None = None  # one record of the split's shape (the offline test's copy)


class Sampling(_Strict):
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None


class RunSpec(_Strict):
    task: str
    strategy: str
    task_options: dict[str, Any] = Field(default_factory=dict)
    strategy_options: dict[str, Any] = Field(default_factory=dict)  # per-branch budgets live here
    sampling: Sampling = Field(default_factory=Sampling)
    repeats: int = Field(1, ge=1)
    n: int | None = Field(None, ge=1)  # None: every instance of the split


class Baseline(_Strict):
    strategy: str = "cot"
    model: str | None = None  # None: the recipe's model
    strategy_options: dict[str, Any] = Field(default_factory=dict)


class Figure(_Strict):
    metric: str  # accuracy, pass@K / mean@K / maj@K, a group rate, COLUMN(.mean), speedup
    value: float
    tol: float | None = Field(None, ge=0)  # absolute
    rel_tol: float | None = Field(None, ge=0)  # relative to `value`
    note: str = ""

    @model_validator(mode="after")
    def _one(self) -> Figure:
        if (self.tol is None) == (self.rel_tol is None):
            raise ValueError(f"{self.metric}: give tol or rel_tol")
        return self

    def within(self, measured: float) -> bool:
        slack = self.tol if self.tol is not None else abs(self.value) * (self.rel_tol or 0.0)
        return abs(measured - self.value) <= slack + 1e-12


class Offline(_Strict):
    task_options: dict[str, Any] = Field(default_factory=dict)
    n: int = Field(10, ge=1)
    repeats: int | None = Field(None, ge=1)


class Recipe(_Strict):
    name: str
    title: str
    source: Source
    model: str | None = None
    model_note: str = ""
    dataset: Dataset = Field(default_factory=Dataset)
    prompt: str = ""
    run: RunSpec
    baseline: Baseline | None = None
    reported: list[Figure] = Field(min_length=1)
    offline: Offline = Field(default_factory=Offline)


def recipe_files() -> list[Path]:
    return sorted(RECIPES.glob("*.yaml"))


def load_recipe(name: str) -> Recipe:
    """A recipe by name (configs/recipes/NAME.yaml) or by path."""
    path = Path(name) if name.endswith((".yaml", ".yml")) else RECIPES / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(p.stem for p in recipe_files())
        raise ConfigError(f"recipe {name!r}: no such recipe (have: {known})")
    try:
        recipe = Recipe.model_validate(read_yaml(path))
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        raise ConfigError(f"{path}: {loc}: {err['msg']}") from None
    if recipe.name != path.stem:
        raise ConfigError(f"{path}: name {recipe.name!r} differs from the file's name")
    return recipe
