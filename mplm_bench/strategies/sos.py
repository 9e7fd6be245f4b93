"""Stream-of-Search+ (APR's serial baseline): one thread writes the whole search."""

from mplm_bench.registry import strategies
from mplm_bench.strategies.base import Strategy


@strategies.register("sos")
class SOSStrategy(Strategy):
    name = "sos"
    protocol = "sos"
