"""Reference policies: exact strings on a hand-checked 4×4 puzzle, and full runs per protocol.

The expected strings below were derived by hand from docs/protocols.md §2 for this puzzle:

    1 2 . 4        solution  1 2 3 4
    . 4 1 .                  3 4 1 2
    2 . 4 3                  2 1 4 3
    4 3 . .                  4 3 2 1

Empty cells and worker ids: (0,2)=3, (1,0)=5, (1,3)=8, (2,1)=10, (3,2)=15, (3,3)=16. Every empty
cell but (3,3) is a single from the givens; (3,3) sees {3,4} and needs (3,2)=2 first.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sudoku_puzzle import ALL15, ANSWER, FJ_SPAWN1, GIVENS, IDS16, PROMPT, PUZZLE, SOLUTION

from mplm_bench.runtime.protocol import Recv, Stop, parse_response, thread_sort_key
from mplm_bench.tasks.sudoku import SudokuTask, fj_policy, mplm_policy, serial_policy
from mplm_bench.tasks.sudoku.formats import (
    final_answer,
    grid_clue_map,
    infer_size,
    master_prompt,
    parse_clue_map,
)
from mplm_bench.tasks.sudoku.generator import generate, make_puzzle


def test_master_prompt() -> None:
    assert master_prompt(PUZZLE) == PROMPT


def test_serial_response() -> None:
    map1 = ALL15[:-2] + ", (3,3): {1,2} }"
    map2 = ALL15[:-2] + ", (3,3): {1} }"
    expected = (
        "\nRound 1:\n"
        "For cell (0,2), the neighboring cells have the values {1,2,4}.\n"
        "The remaining candidates are: {3}\n"
        "For cell (1,0), the neighboring cells have the values {1,2,4}.\n"
        "The remaining candidates are: {3}\n"
        "For cell (1,3), the neighboring cells have the values {1,3,4}.\n"
        "The remaining candidates are: {2}\n"
        "For cell (2,1), the neighboring cells have the values {2,3,4}.\n"
        "The remaining candidates are: {1}\n"
        "For cell (3,2), the neighboring cells have the values {1,3,4}.\n"
        "The remaining candidates are: {2}\n"
        "For cell (3,3), the neighboring cells have the values {3,4}.\n"
        "The remaining candidates are: {1,2}\n"
        "The current remaining candidates of the sudoku is :" + map1 + "\n"
        "\nRound 2:\n"
        "For cell (3,3), the neighboring cells have the values {2,3,4}.\n"
        "The remaining candidates are: {1}\n"
        "The current remaining candidates of the sudoku is :" + map2 + "\n" + ANSWER
    )
    assert serial_policy(PROMPT) == expected


def test_serial_on_a_full_grid_writes_one_round() -> None:
    full = master_prompt(SOLUTION)
    expected_map = ALL15[:-2] + ", (3,3): {1} }"
    assert serial_policy(full) == (
        "\nRound 1:\nThe current remaining candidates of the sudoku is :"
        + expected_map
        + "\n"
        + ANSWER
    )


# -- fork-join ----------------------------------------------------------------------------------


def test_fj_master_steps() -> None:
    assert fj_policy(PROMPT) == FJ_SPAWN1
    replies = (
        "{ From 3: 3 }\n{ From 5: 3 }\n{ From 8: 2 }\n{ From 10: 1 }\n{ From 15: 2 }\n"
        "{ From 16: None }"
    )
    p2 = PROMPT + "\n" + FJ_SPAWN1 + "\n" + replies + "\n</recv>"
    spawn2 = f"<spawn [16]>{ALL15}</spawn>\n<recv [16]>"
    assert fj_policy(p2) == spawn2
    p3 = p2 + "\n" + spawn2 + "\n{ From 16: 1 }\n</recv>"
    assert fj_policy(p3) == ANSWER


def test_fj_master_stops_when_a_round_fills_nothing() -> None:
    p2 = (
        PROMPT
        + "\n"
        + FJ_SPAWN1
        + "\n"
        + "\n".join(f"{{ From {w}: None }}" for w in (3, 5, 8, 10, 15, 16))
        + "\n</recv>"
    )
    assert fj_policy(p2) == "<stop>\n" + str(PUZZLE) + "\n</stop>"


def test_fj_workers() -> None:
    assert fj_policy("Your id is: 3.\n" + GIVENS) == (
        "My id is 3 which corresponds to cell (0,2).\n"
        "The neighboring cells already have the following values: {1, 2, 4}.\n"
        "The remaining candidates are: {3}.\n"
        "<send [0]>{ From 3: 3 }</send><stop>"
    )
    assert fj_policy("Your id is: 16.\n" + GIVENS) == (
        "My id is 16 which corresponds to cell (3,3).\n"
        "The neighboring cells already have the following values: {3, 4}.\n"
        "The remaining candidates are: {1, 2}.\n"
        "<send [0]>{ From 16: None }</send><stop>"
    )
    assert fj_policy("Your id is: 16.\n" + ALL15).endswith(
        "{2, 3, 4}.\nThe remaining candidates are: {1}.\n<send [0]>{ From 16: 1 }</send><stop>"
    )


# -- MPLM ---------------------------------------------------------------------------------------


def test_mplm_master_steps() -> None:
    first = mplm_policy(PROMPT)
    assert first == f"<spawn [{IDS16}]>{GIVENS}</spawn>\n<recv [{IDS16}]>"
    replies = "\n".join(f"{{ From {i + 1}: {v} }}" for i, v in enumerate(sum(SOLUTION, [])))
    assert mplm_policy(PROMPT + "\n" + first + "\n" + replies + "\n</recv>") == ANSWER


def test_mplm_given_worker() -> None:
    # (0,0)'s peers: row ids 2,3,4; column ids 5,9,13; box id 6.
    assert mplm_policy("Your id is: 1.\n" + GIVENS) == (
        "My id is 1 which corresponds to cell (0,0). The cell is given with value 1.\n"
        "The remaining candidates are: {1}.\n"
        "<send [0,2,3,4,5,6,9,13]>{ From 1: 1 }</send><stop>"
    )


def test_mplm_empty_worker_steps() -> None:
    p1 = "Your id is: 16.\n" + GIVENS
    r1 = mplm_policy(p1)
    assert r1 == (
        "My id is 16 which corresponds to cell (3,3). The cell is empty.\n"
        "The remaining candidates are: {1, 2, 3, 4}.\n<recv>"
    )
    # Round 1: the givens among (3,3)'s peers (ids 4, 11, 12, 13, 14) broadcast their values.
    p2 = p1 + "\n" + r1 + "\n{ From 4: 4 }\n{ From 11: 4 }\n{ From 12: 3 }\n{ From 13: 4 }\n"
    p2 += "{ From 14: 3 }\n</recv>"
    r2 = mplm_policy(p2)
    assert r2 == (
        "The neighboring cells have sent the following values: {3, 4}.\n"
        "The remaining candidates are: {1, 2}.\n<recv>"
    )
    # Round 2: (1,3)=2 and (3,2)=2 were solved and report.
    p3 = p2 + "\n" + r2 + "\n{ From 8: 2 }\n{ From 15: 2 }\n</recv>"
    assert mplm_policy(p3) == (
        "The neighboring cells have sent the following values: {2, 3, 4}.\n"
        "The remaining candidates are: {1}.\n"
        "<send [0,4,8,11,12,13,14,15]>{ From 16: 1 }</send><stop>"
    )


def test_unknown_prompt_is_rejected() -> None:
    for policy in (serial_policy, fj_policy, mplm_policy):
        with pytest.raises(ValueError):
            policy("Hello")


# -- a small synchronous driver (a unit-test helper; the real runtime lives elsewhere) -----------
def run(policy, prompt: str, max_rounds: int = 10_000) -> tuple[str | None, int]:
    """Run one sample in synchronous rounds following docs/protocols.md §1; (answer, steps)."""
    prompts = {"0": prompt}
    runnable = ["0"]
    waiting: dict[str, tuple[Recv, str]] = {}  # thread -> (its recv, its kept response)
    inbox: dict[str, list[tuple[str, str]]] = {"0": []}
    stopped: set[str] = set()
    steps = 0
    for _ in range(max_rounds):
        if not runnable:
            return None, steps  # deadlock
        outbox: list[tuple[str, str, str]] = []
        spawned: list[str] = []
        for tid in runnable:
            step = parse_response(policy(prompts[tid]))
            steps += 1
            assert not step.errors, step.errors
            for sp in step.spawns:
                for w in sp.ids:  # create or reset the thread
                    prompts[w] = f"Your id is: {w}.\n{sp.body}"
                    inbox[w] = []
                    stopped.discard(w)
                    waiting.pop(w, None)
                    spawned.append(w)
            outbox += [(tid, dest, s.payload) for s in step.sends for dest in s.ids]
            match step.terminal:
                case Stop(body=body):
                    stopped.add(tid)
                    if tid == "0":
                        return body, steps
                case Recv() as recv:
                    waiting[tid] = (recv, step.kept)
                case _:
                    raise AssertionError(f"thread {tid} wrote no recv/stop")
        for sender, dest, payload in outbox:
            if dest not in stopped:
                inbox[dest].append((sender, payload))
        runnable = spawned  # spawned threads take their first step next round
        for tid, (recv, kept) in list(waiting.items()):
            box = inbox[tid]
            senders = {s for s, _ in box}
            if recv.ids is None and box:
                got, inbox[tid] = box, []
            elif recv.ids is not None and set(recv.ids) <= senders:
                got = [m for m in box if m[0] in recv.ids]
                inbox[tid] = [m for m in box if m[0] not in recv.ids]
            else:
                continue
            got.sort(key=lambda m: thread_sort_key(m[0]))
            body = "\n".join(p for _, p in got)
            prompts[tid] = prompts[tid] + "\n" + kept + "\n" + body + "\n</recv>"
            del waiting[tid]
            runnable.append(tid)
        runnable.sort(key=thread_sort_key)
    raise AssertionError("too many rounds")


def test_driver_on_the_fixed_puzzle() -> None:
    for policy in (serial_policy, fj_policy, mplm_policy):
        answer, _ = run(policy, PROMPT)
        assert "<stop>\n" + answer + "\n</stop>" == ANSWER


@pytest.mark.parametrize(
    "policy", [serial_policy, fj_policy, mplm_policy], ids=lambda p: p.__name__
)
@pytest.mark.parametrize("size,seed", [(4, 0), (4, 1), (9, 0), (9, 1), (9, 2), (16, 0)])
def test_protocols_solve_generated_puzzles(policy, size: int, seed: int) -> None:
    puz = generate(size, seed)
    answer, steps = run(policy, master_prompt(puz.puzzle))
    assert answer is not None
    assert "<stop>\n" + answer + "\n</stop>" == final_answer(puz.solution)
    task = SudokuTask(SudokuTask.Options(size=size))
    inst = task._instance("x", puz.puzzle, puz.solution)
    assert task.score(inst, answer).correct


def test_mplm_25x25_solves() -> None:
    # speed is measured in benchmarks/runtime.py, never asserted in tests
    puz = generate(25, 0)
    answer, _ = run(mplm_policy, master_prompt(puz.puzzle))
    assert "<stop>\n" + answer + "\n</stop>" == final_answer(puz.solution)


@pytest.mark.parametrize("size", [4, 9, 16, 25])
def test_size_inferred_from_givens(size: int) -> None:
    """The policies' N rule (formats.infer_size) is exact on generated puzzles, even at p=1."""
    for seed in range(3):
        clues = parse_clue_map(grid_clue_map(generate(size, seed, p=1.0).puzzle))
        bound = max(max(r + 1, c + 1, v) for (r, c), v in clues.items())
        assert infer_size(bound) == size
    assert infer_size(1, max_id=5) == 4  # an empty 4×4 body: the worker id still bounds N
    assert infer_size(10) == 16 and infer_size(17) == 25


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32), p=st.floats(0.0, 1.0), size=st.sampled_from([4, 9]))
def test_property_all_protocols_solve(seed: int, p: float, size: int) -> None:
    puz = make_puzzle(size, random.Random(seed), p=p)
    want = final_answer(puz.solution)
    for policy in (serial_policy, fj_policy, mplm_policy):
        answer, _ = run(policy, master_prompt(puz.puzzle))
        assert "<stop>\n" + answer + "\n</stop>" == want
