"""The serial CoT trace: rounds of simultaneous elimination, written as one response.

Format per docs/protocols.md §2 ("Serial CoT") and the serial trace program released with the MPLM
paper (arXiv 2607.01077). Details that program fixes and the prose leaves open:
- every round eliminates using only cells solved *before* it (updates apply after the round);
- a cell is reported only when its new set is non-empty and smaller; its "neighboring values"
  are all solved peers' values, not only the newly removed ones;
- the round's full map is written, then the loop stops if nothing changed or all are solved.
"""

from __future__ import annotations

from mplm_bench.tasks.sudoku.formats import compact_set, final_answer
from mplm_bench.tasks.sudoku.geometry import box_index


def serial_response(puzzle: list[list[int]]) -> str:
    size = len(puzzle)
    full = (1 << (size + 1)) - 2
    box = box_index(size)
    cand = [1 << v if v else full for row in puzzle for v in row]
    vals = [_values(m, size) for m in range(1 << (size + 1))] if size <= 9 else None

    def values(m: int) -> list[int]:
        return vals[m] if vals is not None else _values(m, size)

    lines: list[str] = []
    k = 1
    while True:
        rows, cols, boxes = [0] * size, [0] * size, [0] * size
        for i, m in enumerate(cand):
            if _single(m):  # solved: exactly one candidate left
                rows[i // size] |= m
                cols[i % size] |= m
                boxes[box[i]] |= m
        updates: dict[int, int] = {}
        lines.append(f"\nRound {k}:")  # docs/protocols.md §2
        for i, m in enumerate(cand):
            if _single(m):
                continue
            seen = rows[i // size] | cols[i % size] | boxes[box[i]]
            new = m & ~seen
            if new and new != m:
                updates[i] = new
                r, c = divmod(i, size)
                lines.append(  # docs/protocols.md §2: no final period, `,`-joined sets
                    f"For cell ({r},{c}), the neighboring cells have the values "
                    f"{compact_set(values(seen))}.\n"
                    f"The remaining candidates are: {compact_set(values(new))}"
                )
        for i, m in updates.items():
            cand[i] = m
        entries = ", ".join(
            f"({i // size},{i % size}): {compact_set(values(m))}" for i, m in enumerate(cand)
        )
        # docs/protocols.md §2: the map in clue-map form; the space before the colon is in the trace.
        lines.append("The current remaining candidates of the sudoku is :{ " + entries + " }")
        if not updates or all(map(_single, cand)):
            break
        k += 1
    cells = [m.bit_length() - 1 if _single(m) else 0 for m in cand]
    grid = [cells[r * size : (r + 1) * size] for r in range(size)]
    return "\n".join(lines) + "\n" + final_answer(grid)


def _single(m: int) -> bool:
    return m != 0 and not m & (m - 1)


def _values(mask: int, size: int) -> list[int]:
    return [v for v in range(1, size + 1) if mask >> v & 1]
