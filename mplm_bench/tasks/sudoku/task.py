"""The Sudoku task: generated or loaded puzzles, the published prompts, exact-match scoring."""

from __future__ import annotations

import random
from pathlib import Path

from pydantic import Field, field_validator

from mplm_bench.registry import tasks
from mplm_bench.runtime.prompt_kinds import PromptKind
from mplm_bench.tasks.base import (
    Instance,
    Policy,
    Protocol,
    SchedulerKind,
    Score,
    Task,
    TaskError,
    TaskOptions,
)
from mplm_bench.tasks.sudoku.corrupt import corrupt_step
from mplm_bench.tasks.sudoku.data import Record, load_source
from mplm_bench.tasks.sudoku.formats import master_prompt, parse_grid, render_grid
from mplm_bench.tasks.sudoku.generator import SIZES, make_puzzle
from mplm_bench.tasks.sudoku.policies import POLICIES

# default max_tokens by grid size N: (largest N, budget); see SudokuTask.max_tokens
_SERIAL_BUDGET = ((4, 2048), (9, 16_384), (16, 131_072), (25, 1_048_576))
_STEP_BUDGET = ((4, 512), (9, 2048), (16, 8192), (25, 16_384))


class SudokuOptions(TaskOptions):
    size: int = 9
    p: float = Field(0.5, ge=0.0, le=1.0)  # chance that each clue is tried for removal
    hard: bool = False  # keep removals while the solution stays unique (python-sat), not singles

    @field_validator("size")
    @classmethod
    def _size(cls, v: int) -> int:
        if v not in SIZES:
            raise ValueError(f"size must be one of {', '.join(map(str, SIZES))}")
        return v


@tasks.register("sudoku", options=SudokuOptions, protocols=("serial", "fj", "mplm"))
class SudokuTask(Task):
    options: SudokuOptions

    def _tag(self) -> str:
        """`9`, or `9-hard-p0.7`: ids stay short for the defaults yet differ when options do."""
        o = self.options
        tag = str(o.size)
        if o.hard:
            tag += "-hard"
        if o.p != 0.5:
            tag += f"-p{o.p:g}"
        return tag

    def generate(self, n: int, seed: int) -> list[Instance]:
        return [self.instance_at(i, seed) for i in range(n)]

    def instance_id(self, i: int, seed: int) -> str:
        return f"sudoku-{self._tag()}-s{seed}-{i:05d}"

    def instance_at(self, i: int, seed: int) -> Instance:
        o = self.options
        iid = self.instance_id(i, seed)
        # One rng per instance, seeded by its id (str seeds hash with SHA-512, not the
        # per-process hash), so instance i does not depend on n or on the other instances.
        puz = make_puzzle(o.size, random.Random(iid), p=o.p, hard=o.hard)
        return self._instance(iid, puz.puzzle, puz.solution)

    def max_tokens(self, instance: Instance, protocol: Protocol) -> int | None:
        # ~2x the longest reference step at each size (serial writes the whole elimination;
        # an FJ master re-sends the grid and N² ids, digits tokenized one by one)
        budgets = _SERIAL_BUDGET if protocol == "serial" else _STEP_BUDGET
        return next((b for n, b in budgets if instance.size <= n), None)

    def load(self, source: str, n: int | None) -> list[Instance]:
        records = load_source(source, n)
        stem = Path(source).stem if Path(source).exists() else source.replace("/", "_")
        return [self._from_record(r, stem, i) for i, r in enumerate(records)]

    def _from_record(self, rec: Record, stem: str, index: int) -> Instance:
        size = len(rec.puzzle)
        iid = rec.id if rec.id is not None else f"sudoku-{size}-{stem}-{index:05d}"
        return self._instance(iid, rec.puzzle, rec.solution)

    @staticmethod
    def _instance(iid: str, puzzle: list[list[int]], solution: list[list[int]]) -> Instance:
        size = len(puzzle)
        givens = sum(1 for row in puzzle for v in row if v)
        return Instance(
            id=iid,
            size=size,
            data={"puzzle": puzzle, "solution": solution},
            meta={"n_givens": givens, "n_cells": size * size},
        )

    def prompt(self, instance: Instance, protocol: Protocol) -> str:
        self._check(protocol)
        return master_prompt(instance.data["puzzle"])  # the same for all three protocols

    def score(self, instance: Instance, answer: str | None) -> Score:
        puzzle, solution = instance.data["puzzle"], instance.data["solution"]
        grid = parse_grid(answer) if answer else None
        empty = [(r, c) for r, row in enumerate(puzzle) for c, v in enumerate(row) if not v]
        if grid is None:
            return Score(correct=False, score=0.0, extra={"n_empty": len(empty), "n_right": 0})
        right = sum(
            1
            for r, c in empty
            if r < len(grid) and c < len(grid[r]) and grid[r][c] == solution[r][c]
        )
        correct = grid == solution
        frac = right / len(empty) if empty else float(correct)
        return Score(
            correct=correct,
            score=frac,
            parsed=render_grid(grid),
            extra={"n_empty": len(empty), "n_right": right},
        )

    def answers(self, protocol: Protocol) -> frozenset[PromptKind]:
        """Its serial policy also answers PaCoRe's synthesis prompts."""
        return frozenset({PromptKind.PROBLEM, PromptKind.SYNTHESIS} if protocol == "serial" else {PromptKind.PROBLEM})

    def policy(self, protocol: Protocol) -> Policy:
        self._check(protocol)
        return POLICIES[protocol]

    def corrupt(self, protocol: Protocol, prompt: str, response: str, rng: random.Random) -> str:
        """One wrong step for the noisy scripted backend (see `corrupt.py`)."""
        return corrupt_step(prompt, response, rng)

    def scheduler(self, protocol: Protocol) -> SchedulerKind:
        return "sync"  # docs/protocols.md §2: MPLM Sudoku runs in synchronous rounds

    def _check(self, protocol: Protocol) -> None:
        if protocol not in self.protocols:
            raise TaskError(f"sudoku: unknown protocol {protocol!r} (known: serial, fj, mplm)")
