"""Message passing: long-lived workers send to peers and receive from them."""


from pydantic import Field

from mplm_bench.registry import strategies
from mplm_bench.strategies.base import Strategy, StrategyOptions


class MPLMOptions(StrategyOptions):
    """`-S query_rounds=N`: rounds of questions the master may send its readers before it answers,
    in a harness-driven MPLM protocol (long-context QA, docs/protocols.md §4). Model-driven protocols
    (Sudoku, 3-SAT) have no such phase and reject it."""

    query_rounds: int = Field(3, ge=0, le=64)


@strategies.register("mplm", options=MPLMOptions, protocol="mplm",
                     task_specific=frozenset({"query_rounds"}))
class MPLMStrategy(Strategy):
    """Model-driven MPLM (tag grammar) or a task's harness-driven dialect."""

    streams_input = True  # a reader starts when its chunk has arrived (docs/streaming.md)
