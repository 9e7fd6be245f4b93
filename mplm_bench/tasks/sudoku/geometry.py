"""Board geometry: box side, peers, worker ids. Cached per N because policies ask per step.

Cells are 0-indexed (r, c); the worker thread of a cell has id r·N + c + 1, so the master keeps
id 0 (docs/protocols.md §2).
"""

from __future__ import annotations

from functools import lru_cache
from math import isqrt


def box_side(size: int) -> int:
    """n for N = n²; ValueError for a non-square N."""
    n = isqrt(size)
    if size < 1 or n * n != size:
        raise ValueError(f"sudoku size must be a perfect square, got {size}")
    return n


def cell_of(worker_id: int, size: int) -> tuple[int, int]:
    return divmod(worker_id - 1, size)


def worker_id(r: int, c: int, size: int) -> int:
    return r * size + c + 1


@lru_cache(maxsize=64)
def peer_table(size: int) -> tuple[tuple[int, ...], ...]:
    """For each flat cell index i = r·N + c: its row, column and box peers (flat, ascending)."""
    n = box_side(size)
    table = []
    for i in range(size * size):
        r, c = divmod(i, size)
        br, bc = r - r % n, c - c % n
        peers = {r * size + j for j in range(size)}
        peers |= {k * size + c for k in range(size)}
        peers |= {(br + a) * size + bc + b for a in range(n) for b in range(n)}
        peers.discard(i)
        table.append(tuple(sorted(peers)))
    return tuple(table)


@lru_cache(maxsize=64)
def box_index(size: int) -> tuple[int, ...]:
    """Box number of each flat cell (boxes numbered row-major)."""
    n = box_side(size)
    return tuple((i // size // n) * n + (i % size) // n for i in range(size * size))


@lru_cache(maxsize=4096)
def neighbor_ids_text(r: int, c: int, size: int) -> str:
    """`0,ID,...`: the master then every peer's worker id ascending — the MPLM send list
    (docs/protocols.md §2, NEIGHBORS; arXiv 2607.01077 trace program)."""
    peers = peer_table(size)[r * size + c]
    return ",".join(["0", *(str(p + 1) for p in peers)])
