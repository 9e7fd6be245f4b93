"""Naked singles: the only deduction the published traces use (docs/protocols.md §2).

Candidates are bitmasks (bit v set = value v possible), kept per row, column and box, so a
cell's candidates are one OR and one AND. Naked singles are monotone: filling more cells only
shrinks candidate sets, and while the givens agree with a solution that solution's value is always
a candidate, so every single found is the solution's value. Two consequences the generator uses:
a consistent puzzle solved by singles is solved to *its* solution, and removing clue x keeps a
puzzle solvable iff propagation from the rest eventually makes x a single.
"""

from __future__ import annotations

from collections.abc import Sequence

from mplm_bench.tasks.sudoku.geometry import box_index, box_side, peer_table


def solve_naked_singles(puzzle: Sequence[Sequence[int]]) -> list[list[int]]:
    """Fill naked singles to a fixpoint; cells it cannot decide stay 0 (contradictions too)."""
    size = len(puzzle)
    state = SinglesState([v for row in puzzle for v in row], size)
    state.propagate()
    return [state.cells[r * size : (r + 1) * size] for r in range(size)]


class SinglesState:
    """A flat grid with row/column/box value masks and a naked-singles propagator."""

    def __init__(self, cells: list[int], size: int) -> None:
        box_side(size)  # validates N = n²
        self.size = size
        self.full = (1 << (size + 1)) - 2  # bits 1..N
        self.peers = peer_table(size)
        self.box = box_index(size)
        self.cells = list(cells)
        self.rows = [0] * size
        self.cols = [0] * size
        self.boxes = [0] * size
        for i, v in enumerate(self.cells):
            if v:
                self._mark(i, v)

    def _mark(self, i: int, v: int) -> None:
        bit = 1 << v
        self.rows[i // self.size] |= bit
        self.cols[i % self.size] |= bit
        self.boxes[self.box[i]] |= bit

    def candidates(self, i: int) -> int:
        s = self.size
        return self.full & ~(self.rows[i // s] | self.cols[i % s] | self.boxes[self.box[i]])

    def clear(self, i: int) -> None:
        """Empty cell i (its value is unique in its row/col/box, so the bit simply goes)."""
        bit = ~(1 << self.cells[i])
        self.rows[i // self.size] &= bit
        self.cols[i % self.size] &= bit
        self.boxes[self.box[i]] &= bit
        self.cells[i] = 0

    def set(self, i: int, v: int) -> None:
        self.cells[i] = v
        self._mark(i, v)

    def propagate(self, goal: int = -1) -> bool:
        """Fill singles until none is left, or until cell `goal` becomes a single (then True).

        Works on this state in place; callers that only test copy first (`copy`).
        """
        s, full, box, peers, cells = self.size, self.full, self.box, self.peers, self.cells
        rows, cols, boxes = self.rows, self.cols, self.boxes
        work = []
        for i, v in enumerate(cells):
            if not v:
                m = full & ~(rows[i // s] | cols[i % s] | boxes[box[i]])
                if m and not m & (m - 1):
                    if i == goal:
                        return True
                    work.append(i)
        while work:
            i = work.pop()
            if cells[i]:
                continue
            r, c, b = i // s, i % s, box[i]
            m = full & ~(rows[r] | cols[c] | boxes[b])
            if not m or m & (m - 1):  # a contradiction: leave it for the caller to notice
                continue
            cells[i] = m.bit_length() - 1
            rows[r] |= m
            cols[c] |= m
            boxes[b] |= m
            # Only peers of the filled cell can have become singles.
            for j in peers[i]:
                if not cells[j]:
                    m2 = full & ~(rows[j // s] | cols[j % s] | boxes[box[j]])
                    if m2 and not m2 & (m2 - 1):
                        if j == goal:
                            return True
                        work.append(j)
        return goal < 0 and all(cells)

    def copy(self) -> SinglesState:
        new = object.__new__(SinglesState)
        new.size, new.full, new.peers, new.box = self.size, self.full, self.peers, self.box
        new.cells = self.cells[:]
        new.rows, new.cols, new.boxes = self.rows[:], self.cols[:], self.boxes[:]
        return new

    def removable(self, i: int) -> bool:
        """Would the puzzle stay solvable by singles without clue i? (state is left unchanged)

        Assumes the current puzzle is solvable by singles; see the module docstring for why it is
        enough to see cell i become a single again.
        """
        v = self.cells[i]
        self.clear(i)
        try:
            m = self.candidates(i)
            if m == 1 << v:  # its peers alone pin it: the common case early on
                return True
            return self.copy().propagate(goal=i)
        finally:
            self.set(i, v)
