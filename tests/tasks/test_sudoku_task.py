"""SudokuTask: registration, options, ids, prompts, scoring."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mplm_bench.registry import tasks
from mplm_bench.tasks.base import TaskError
from mplm_bench.tasks.sudoku import SudokuTask, fj_policy, mplm_policy, serial_policy
from mplm_bench.tasks.sudoku.formats import parse_grid

SOL4 = [[1, 2, 3, 4], [3, 4, 1, 2], [2, 1, 4, 3], [4, 3, 2, 1]]
PUZ4 = [[1, 2, 0, 4], [0, 4, 1, 0], [2, 0, 4, 3], [4, 3, 0, 0]]


def inst():
    return SudokuTask._instance("t", PUZ4, SOL4)


def test_registered() -> None:
    cls = tasks.get("sudoku")
    assert cls is SudokuTask
    assert cls.name == "sudoku" and cls.protocols == ("serial", "fj", "mplm")


def test_options() -> None:
    assert SudokuTask().options.size == 9
    with pytest.raises(ValidationError):
        SudokuTask.Options(size=5)
    with pytest.raises(ValidationError):
        SudokuTask.Options(p=1.5)
    with pytest.raises(ValidationError):
        SudokuTask.Options(colour="red")


def test_generate_ids_stable() -> None:
    task = SudokuTask(SudokuTask.Options(size=4))
    a = task.generate(3, seed=0)
    assert [i.id for i in a] == ["sudoku-4-s0-00000", "sudoku-4-s0-00001", "sudoku-4-s0-00002"]
    assert task.generate(2, seed=0) == a[:2]  # instance i does not depend on n
    assert a[0].size == 4 and a[0].meta["n_cells"] == 16
    assert a[0].meta["n_givens"] == sum(1 for r in a[0].data["puzzle"] for v in r if v)
    hard = SudokuTask(SudokuTask.Options(size=4, hard=True, p=0.7)).generate(1, seed=2)
    assert hard[0].id == "sudoku-4-hard-p0.7-s2-00000"


def test_prompt_policy_scheduler() -> None:
    task = SudokuTask(SudokuTask.Options(size=4))
    for proto in task.protocols:
        assert task.prompt(inst(), proto).startswith("Solve this Sudoku:\n{ (0,0): {1}, ")
        assert task.scheduler(proto) == "sync"
    assert task.policy("serial") is serial_policy
    assert task.policy("fj") is fj_policy
    assert task.policy("mplm") is mplm_policy
    with pytest.raises(TaskError):
        task.policy("sat")
    with pytest.raises(TaskError):
        task.prompt(inst(), "cot")


def test_score() -> None:
    task = SudokuTask(SudokuTask.Options(size=4))
    s = task.score(inst(), "\n[[1, 2, 3, 4], [3, 4, 1, 2], [2, 1, 4, 3], [4, 3, 2, 1]]\n")
    assert s.correct and s.score == 1.0
    assert s.parsed == "[[1, 2, 3, 4], [3, 4, 1, 2], [2, 1, 4, 3], [4, 3, 2, 1]]"
    # Lenient about whitespace; one of the 6 empty cells wrong.
    s = task.score(inst(), "[ [1,2,3,4],\n [3,4,1,2],[2,1,4,3],[4,3,1,1] ]")
    assert not s.correct and s.score == pytest.approx(5 / 6)
    assert s.parsed == "[[1, 2, 3, 4], [3, 4, 1, 2], [2, 1, 4, 3], [4, 3, 1, 1]]"
    # Givens changed: not correct even though every empty cell is right.
    s = task.score(inst(), "[[9, 2, 3, 4], [3, 4, 1, 2], [2, 1, 4, 3], [4, 3, 2, 1]]")
    assert not s.correct and s.score == 1.0
    s = task.score(inst(), "[[1, 2, 3, 4], [3, 4, 1, 2]]")  # too short
    assert not s.correct and s.score == pytest.approx(3 / 6)  # (0,2), (1,0), (1,3) right
    for bad in (None, "", "no grid here"):
        s = task.score(inst(), bad)
        assert not s.correct and s.score == 0.0 and s.parsed is None


def test_parse_grid_variants() -> None:
    assert parse_grid("<stop>\n[[1, 2], [3, 4]]\n</stop>") == [[1, 2], [3, 4]]
    assert parse_grid("[[1,2],[3,4],]") == [[1, 2], [3, 4]]
    assert parse_grid("[1, 2]") is None
