"""Message passing: long-lived workers send to peers and receive from them."""

from mplm_bench.registry import strategies
from mplm_bench.strategies.base import Strategy


@strategies.register("mplm")
class MPLMStrategy(Strategy):
    name = "mplm"
    protocol = "mplm"
