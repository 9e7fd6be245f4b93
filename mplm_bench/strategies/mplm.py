"""Message passing: long-lived workers send to peers and receive from them."""

from typing import ClassVar

from pydantic import Field

from mplm_bench.registry import strategies
from mplm_bench.strategies.base import Strategy, StrategyOptions


class MPLMOptions(StrategyOptions):
    """`-S query_rounds=N`: rounds of questions the master may send its readers before it answers,
    in a harness-driven MPLM protocol (long-context QA, PROTOCOLS.md §4). Model-driven protocols
    (Sudoku, 3-SAT) have no such phase and reject it."""

    query_rounds: int = Field(3, ge=0, le=64)


@strategies.register("mplm")
class MPLMStrategy(Strategy):
    name = "mplm"
    protocol = "mplm"
    Options = MPLMOptions
    task_specific: ClassVar[frozenset[str]] = frozenset({"query_rounds"})
    streams_input: ClassVar[bool] = True  # a reader starts when its chunk has arrived (docs/streaming.md)
