"""The one progress display of the commands that run samples (`run`, `sweep`, `export-sft`):
a rich bar per task with a note column (the running accuracy), on stderr, off with `--quiet`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def sample_progress(console: Console, quiet: bool = False) -> Progress:
    """Bars with `note=` fields (`progress.add_task(label, total=n, note="")`)."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[note]}"), TimeElapsedColumn(), console=console,
                    disable=quiet)


@dataclass
class Accuracy:
    """Samples seen and how many were correct, as the bar's note."""

    done: int = 0
    correct: int = 0

    def add(self, row: dict[str, Any]) -> str:
        self.done += 1
        self.correct += bool(row["correct"])
        return self.note()

    def note(self) -> str:
        return f"acc {self.correct / max(self.done, 1):.0%}"
