"""Scripted reference policies: serial CoT, fork-join and MPLM, each a `Callable[[str], str]`.

Each reproduces, from the prompt text alone, the response the MPLM paper's trace programs wrote
for that step (arXiv 2607.01077; strings per docs/protocols.md §2). A policy never sees the solution:
it reads the givens, the received `{ From W: V }` lines and its own earlier responses, and infers
N with `infer_size` (exact for any puzzle with a unique solution).

Speed matters: a 25×25 MPLM sample is thousands of calls, so the clue-map analysis is cached per
body string (all workers spawned together share one body) and only regexes touch long text.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from mplm_bench.runtime.protocol import (
    WORKER_PREFIX,
    is_resumed,
    last_recv,
    read_worker_id,
    render_recv,
    render_spawn,
    render_stop,
)
from mplm_bench.runtime.synthesis import is_synthesis
from mplm_bench.tasks.sudoku.formats import (
    CLUE_RE,
    FROM_RE,
    PROMPT_PREFIX,
    final_answer,
    grid_clue_map,
    infer_size,
    spaced_set,
)
from mplm_bench.tasks.sudoku.geometry import box_index, neighbor_ids_text
from mplm_bench.tasks.sudoku.serial import serial_response
from mplm_bench.tasks.sudoku.synthesis import synthesis_policy


@dataclass(frozen=True, slots=True)
class Board:
    """The filled cells of one clue map, flat-indexed for a given N, with value masks."""

    size: int
    cells: dict[int, int]  # flat index -> value
    rows: tuple[int, ...]
    cols: tuple[int, ...]
    boxes: tuple[int, ...]

    def candidates(self, i: int) -> int:
        if i in self.cells:
            return 1 << self.cells[i]
        s = self.size
        full = (1 << (s + 1)) - 2
        return full & ~(self.rows[i // s] | self.cols[i % s] | self.boxes[box_index(s)[i]])

    def grid(self) -> list[list[int]]:
        g = [[0] * self.size for _ in range(self.size)]
        for i, v in self.cells.items():
            g[i // self.size][i % self.size] = v
        return g


@lru_cache(maxsize=16)
def _clues(body: str) -> tuple[tuple[tuple[int, int, int], ...], int]:
    """(clues, bound) of a clue map; bound = max of row+1, col+1 and value (for `infer_size`)."""
    clues = tuple((int(r), int(c), int(v)) for r, c, v in CLUE_RE.findall(body))
    bound = max((max(r + 1, c + 1, v) for r, c, v in clues), default=1)
    return clues, bound


@lru_cache(maxsize=16)
def _board(body: str, size: int) -> Board:
    clues, _ = _clues(body)
    rows, cols, boxes = [0] * size, [0] * size, [0] * size
    cells: dict[int, int] = {}
    box = box_index(size)
    for r, c, v in clues:
        if r < size and c < size and 0 < v <= size:  # out-of-range entries are ignored
            i = r * size + c
            cells[i] = v
            rows[r] |= 1 << v
            cols[c] |= 1 << v
            boxes[box[i]] |= 1 << v
    return Board(size, cells, tuple(rows), tuple(cols), tuple(boxes))


def _values(mask: int, size: int) -> list[int]:
    return [v for v in range(1, size + 1) if mask >> v & 1]


def _worker(prompt: str) -> tuple[int, str, str]:
    """(id, body, rest): the worker header names the id, the line after it is the spawn body."""
    wid, start = read_worker_id(prompt)
    if wid is None or not wid.isdigit():
        raise ValueError("not a Sudoku worker prompt")
    nl2 = prompt.find("\n", start)
    if nl2 < 0:
        return int(wid), prompt[start:], ""
    return int(wid), prompt[start:nl2], prompt[nl2:]


def _givens(prompt: str) -> Board:
    body = prompt[len(PROMPT_PREFIX) :].split("\n", 1)[0]
    return _board(body, infer_size(_clues(body)[1]))


def _unknown(prompt: str) -> ValueError:
    return ValueError(f"not a Sudoku prompt: {prompt[:40]!r}")


# -- serial -------------------------------------------------------------------------------------
def serial_policy(prompt: str) -> str:
    """One master step: the whole elimination trace and the final answer; or, given a PaCoRe
    synthesis prompt (whose original problem is this serial prompt), the synthesizer's answer."""
    if is_synthesis(prompt):
        return synthesis_policy(prompt)
    if not prompt.startswith(PROMPT_PREFIX):
        raise _unknown(prompt)
    return serial_response(_givens(prompt).grid())


# -- fork-join ----------------------------------------------------------------------------------
def _fj_spawn(board: Board) -> str:
    """`<spawn [ids]>{current clue map}</spawn>⏎<recv [ids]>`, one worker per empty cell."""
    grid = board.grid()
    ids = [str(i + 1) for i in range(board.size**2) if i not in board.cells]
    if not ids:
        return final_answer(grid)
    return render_spawn(ids, grid_clue_map(grid)) + "\n" + render_recv(ids)  # docs/protocols.md §2


def _fj_master_resumed(prompt: str) -> str:
    # The prompt holds every earlier round (megabytes at 25×25): read only the last spawn body
    # (the grid as of that round) and the recv block after it, both found from the end.
    start = prompt.rfind("<spawn")
    open_end = prompt.find(">", start)
    body_end = prompt.find("</spawn>", open_end)
    _, recv = last_recv(prompt)
    if min(start, open_end, body_end, recv) < 0:
        raise ValueError("fork-join master prompt without a spawn/recv round")
    body = prompt[open_end + 1 : body_end]
    replies = FROM_RE.findall(prompt, recv)
    max_id = max((int(w) for w, _ in replies), default=0)
    board = _board(body, infer_size(_clues(body)[1], max_id))
    size, cells = board.size, dict(board.cells)
    filled = 0
    for w, v in replies:
        i = int(w) - 1
        if v != "None" and 0 <= i < size * size and i not in cells:
            cells[i] = int(v)
            filled += 1
    grid = [[cells.get(r * size + c, 0) for c in range(size)] for r in range(size)]
    if filled == 0 or len(cells) == size * size:  # stop when full or a round filled nothing
        return final_answer(grid)
    return _fj_spawn(_board(grid_clue_map(grid), size))


def _fj_worker(prompt: str) -> str:
    wid, body, _ = _worker(prompt)
    board = _board(body, infer_size(_clues(body)[1], wid))
    size = board.size
    r, c = divmod(wid - 1, size)
    cands = board.candidates(wid - 1)
    full = (1 << (size + 1)) - 2
    value = str(cands.bit_length() - 1) if cands and not cands & (cands - 1) else "None"
    # docs/protocols.md §2, fork-join worker (one step); `, `-joined sets.
    return (
        f"My id is {wid} which corresponds to cell ({r},{c}).\n"
        f"The neighboring cells already have the following values: "
        f"{spaced_set(_values(full & ~cands, size))}.\n"
        f"The remaining candidates are: {spaced_set(_values(cands, size))}.\n"
        f"<send [0]>{{ From {wid}: {value} }}</send><stop>"
    )


def fj_policy(prompt: str) -> str:
    if prompt.startswith(PROMPT_PREFIX):
        return _fj_master_resumed(prompt) if is_resumed(prompt) else _fj_spawn(_givens(prompt))
    if prompt.startswith(WORKER_PREFIX):
        return _fj_worker(prompt)
    raise _unknown(prompt)


# -- MPLM ---------------------------------------------------------------------------------------
def _mplm_master(prompt: str) -> str:
    if not is_resumed(prompt):
        board = _givens(prompt)
        cell_ids = [str(i) for i in range(1, board.size**2 + 1)]
        # docs/protocols.md §2: spawn every cell once with the givens, then wait for all of them.
        return render_spawn(cell_ids, grid_clue_map(board.grid())) + "\n" + render_recv(cell_ids)
    recv_ids, recv = last_recv(prompt)
    ids = [int(t) for t in recv_ids or () if t.isdigit()]
    replies = FROM_RE.findall(prompt, max(recv, 0))
    # The recv list is [1..N²], so it states N exactly; fall back to the replies' ids.
    size = infer_size(1, max([*ids, *(int(w) for w, _ in replies)], default=1))
    grid = [[0] * size for _ in range(size)]
    for w, v in replies:
        i = int(w) - 1
        if v != "None" and 0 <= i < size * size:
            grid[i // size][i % size] = int(v)
    return final_answer(grid)


def _mplm_send(wid: int, r: int, c: int, v: int, size: int) -> str:
    # docs/protocols.md §2: `<send [0,NEIGHBORS]>{ From W: v }</send><stop>`, no space before <stop>
    return f"<send [{neighbor_ids_text(r, c, size)}]>{{ From {wid}: {v} }}</send>" + render_stop()


def _mplm_worker(prompt: str) -> str:
    wid, body, rest = _worker(prompt)
    board = _board(body, infer_size(_clues(body)[1], wid))
    size = board.size
    r, c = divmod(wid - 1, size)
    full = (1 << (size + 1)) - 2
    if not is_resumed(prompt):  # docs/protocols.md §2, MPLM worker first step
        head = f"My id is {wid} which corresponds to cell ({r},{c}). "
        v = board.cells.get(wid - 1)
        if v is not None:
            return (
                head + f"The cell is given with value {v}.\n"
                f"The remaining candidates are: {{{v}}}.\n" + _mplm_send(wid, r, c, v, size)
            )
        domain = spaced_set(range(1, size + 1))
        return head + f"The cell is empty.\nThe remaining candidates are: {domain}.\n" + render_recv()
    seen = 0
    for w, v in FROM_RE.findall(rest):
        if v != "None" and int(w) != wid:
            seen |= 1 << int(v)
    cands = full & ~seen
    # docs/protocols.md §2, MPLM later step; "sent values" = domain minus remaining candidates.
    text = (
        "The neighboring cells have sent the following values: "
        f"{spaced_set(_values(full & seen, size))}.\n"
        f"The remaining candidates are: {spaced_set(_values(cands, size))}.\n"
    )
    if cands and not cands & (cands - 1):
        return text + _mplm_send(wid, r, c, cands.bit_length() - 1, size)
    return text + render_recv()


def mplm_policy(prompt: str) -> str:
    if prompt.startswith(PROMPT_PREFIX):
        return _mplm_master(prompt)
    if prompt.startswith(WORKER_PREFIX):
        return _mplm_worker(prompt)
    raise _unknown(prompt)


POLICIES = {"serial": serial_policy, "fj": fj_policy, "mplm": mplm_policy}
