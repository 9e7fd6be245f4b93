"""Sudoku (docs/protocols.md §2): generator, published trace formats, reference policies, loaders.

Importing the package registers the task as `sudoku` (see `mplm_bench.registry`).
"""

from mplm_bench.tasks.sudoku.policies import fj_policy, mplm_policy, serial_policy
from mplm_bench.tasks.sudoku.task import SudokuOptions, SudokuTask

__all__ = ["SudokuOptions", "SudokuTask", "fj_policy", "mplm_policy", "serial_policy"]
