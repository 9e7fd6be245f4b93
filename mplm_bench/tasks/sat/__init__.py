"""Random 3-SAT (docs/protocols.md §3): DPLL traces for serial CoT, fork-join and MPLM."""

from mplm_bench.tasks.sat.task import SATOptions, SATTask

__all__ = ["SATOptions", "SATTask"]
