"""The protocol models shipped with mplm-bench (docs/training.md §5): small Llamas trained by
`mplm-bench train` on the project's own reference traces, one folder each under
`mplm_bench/models/protocol/`, named like `sudoku-4x4-mplm`.

Each is the default model of the vLLM backend for the task, protocol and task options it was
trained on; elsewhere the embedded SmolLM2 stays the default. Any of them is one `--model NAME`
away. Loaded from these local files only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

SHIPPED_DIR = Path(__file__).parent / "protocol"
CARD_FILE = "card.json"
PROBLEMS_FILE = "training_problems.txt"
# the strategies a protocol's model serves: self-consistency and DeepConf sample the serial
# protocol too
SERVES: dict[str, tuple[str, ...]] = {"serial": ("cot", "sc", "deepconf")}


@dataclass(frozen=True, slots=True)
class ShippedModel:
    name: str
    path: Path
    task: str
    protocol: str
    task_options: dict[str, Any]
    card: dict[str, Any]  # card.json as training wrote it (train/card.py)

    @property
    def strategies(self) -> tuple[str, ...]:
        return SERVES.get(self.protocol, (self.protocol,))


@cache
def shipped_models() -> tuple[ShippedModel, ...]:
    out = []
    for card in sorted(SHIPPED_DIR.glob(f"*/{CARD_FILE}")):
        c = json.loads(card.read_text())
        out.append(ShippedModel(card.parent.name, card.parent, c["task"], c["protocol"], c["task_options"], c))
    return tuple(out)


def task_flags(task_options: dict[str, Any]) -> str:
    """Task options as the CLI spells them (`-T size=4`): for model cards, commands and listings."""
    return " ".join(f"-T {k}={v}" for k, v in task_options.items())


def shipped_model(name: str) -> ShippedModel | None:
    return next((m for m in shipped_models() if m.name == name.strip().lower()), None)


def default_model(task: str, strategy: str, task_options: Any) -> ShippedModel | None:
    """The shipped model trained for this task, strategy and these task options (`task_options`:
    the task's parsed options; only the keys a model was trained with are compared)."""
    for m in shipped_models():
        if m.task == task and strategy in m.strategies and all(
            getattr(task_options, k, None) == v for k, v in m.task_options.items()
        ):
            return m
    return None


def training_problems(model_dir: str | Path) -> frozenset[str] | None:
    """Content keys of a model card's training problems (export/select.py `problem_key`), if it
    lists them."""
    path = Path(model_dir) / PROBLEMS_FILE
    if not path.is_file():
        return None
    return frozenset(line.strip() for line in path.read_text().splitlines() if line.strip())
