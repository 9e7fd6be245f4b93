"""How a Sudoku step goes wrong under the noisy scripted backend (`Task.corrupt`).

Each mistake keeps the step well-formed protocol text, so the runtime carries it on and it ends as
a wrong answer, not a protocol error. The kind of step is read from its text, so one function
serves serial, fork-join, MPLM and PaCoRe synthesis steps:
- a final answer (serial trace, synthesizer, FJ/MPLM master): one cell of the grid is wrong;
- a worker that sends a value (FJ, MPLM): a wrong value — its candidate set says so, and the
  message carries it to the master and the peers;
- a worker that would wait or report `None`: it commits early to one of its candidates (right
  by luck only when it guesses the value the puzzle needs);
- a master's spawn: one cell of the grid it hands out is wrong (a misread given or a misfiled
  answer), which every worker of the round then builds on.
"""

from __future__ import annotations

import random
import re

from mplm_bench.tasks.sudoku.formats import (
    FROM_RE,
    clue_map,
    infer_size,
    parse_clue_map,
    parse_grid,
    render_grid,
    spaced_set,
)

# the policies' own readers of a worker prompt: the corruption must see the step as they do
from mplm_bench.tasks.sudoku.policies import WORKER_PREFIX, _board, _clues, _mplm_send, _worker

_CANDIDATES = re.compile(r"The remaining candidates are: \{([\d\s,]*)\}")
_GIVEN = re.compile(r"The cell is given with value (\d+)\.")
_SPAWN = re.compile(r"<spawn \[([\d,\s]*)\]>(.*?)</spawn>", re.S)


def corrupt_step(prompt: str, response: str, rng: random.Random) -> str:
    stop = response.rfind("<stop>")
    if stop >= 0 and "[[" in response[stop:]:
        return _wrong_cell_in_answer(response, rng)
    if prompt.startswith(WORKER_PREFIX):
        if FROM_RE.search(response):
            return _wrong_value(prompt, response, rng)
        if response.rstrip().endswith("<recv>"):
            return _early_commit(prompt, response, rng)
    if _SPAWN.search(response):
        return _wrong_cell_in_spawn(response, rng)
    return response


def _other(value: int, size: int, rng: random.Random) -> int:
    return rng.choice([v for v in range(1, size + 1) if v != value])


def _wrong_cell_in_answer(response: str, rng: random.Random) -> str:
    i = response.rfind("[[")
    j = response.find("]]", i)
    grid = parse_grid(response[i:]) if j > i else None
    if not grid or not all(grid):
        return response
    r = rng.randrange(len(grid))
    c = rng.randrange(len(grid[r]))
    grid[r][c] = _other(grid[r][c], len(grid), rng)
    return response[:i] + render_grid(grid) + response[j + 2 :]


def _worker_geometry(prompt: str) -> tuple[int, int]:
    wid, body, _ = _worker(prompt)
    return wid, _board(body, infer_size(_clues(body)[1], wid)).size


def _candidates(response: str, size: int) -> list[int]:
    m = _CANDIDATES.search(response)
    listed = [int(v) for v in m.group(1).replace(",", " ").split()] if m else []
    return [v for v in listed if 1 <= v <= size] or list(range(1, size + 1))


def _wrong_value(prompt: str, response: str, rng: random.Random) -> str:
    """A worker that reports V reports another value (or, if it reported None, a guess)."""
    wid, size = _worker_geometry(prompt)
    m = FROM_RE.search(response)
    assert m is not None
    sent = m.group(2)
    value = rng.choice(_candidates(response, size)) if sent == "None" else _other(int(sent), size, rng)
    out = response[: m.start()] + f"{{ From {m.group(1)}: {value} }}" + response[m.end() :]
    out = _CANDIDATES.sub(f"The remaining candidates are: {spaced_set([value])}", out, count=1)
    return _GIVEN.sub(f"The cell is given with value {value}.", out, count=1)


def _early_commit(prompt: str, response: str, rng: random.Random) -> str:
    """An MPLM worker that should keep waiting sends one of its candidates and stops."""
    wid, size = _worker_geometry(prompt)
    value = rng.choice(_candidates(response, size))
    r, c = divmod(wid - 1, size)
    head = response.rstrip()[: -len("<recv>")]
    head = _CANDIDATES.sub(f"The remaining candidates are: {spaced_set([value])}", head, count=1)
    return head + _mplm_send(wid, r, c, value, size)


def _wrong_cell_in_spawn(response: str, rng: random.Random) -> str:
    m = _SPAWN.search(response)
    assert m is not None
    cells = parse_clue_map(m.group(2))
    if not cells:
        return response
    ids = [int(t) for t in m.group(1).replace(",", " ").split()]
    bound = max(max(r + 1, c + 1, v) for (r, c), v in cells.items())
    size = infer_size(bound, max(ids, default=0))
    cell = rng.choice(sorted(cells))
    cells[cell] = _other(cells[cell], size, rng)
    body = clue_map({k: (v,) for k, v in cells.items()})
    return response[: m.start(2)] + body + response[m.end(2) :]
