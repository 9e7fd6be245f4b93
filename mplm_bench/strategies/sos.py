"""Stream-of-Search+ (APR's serial baseline): one thread writes the whole search."""

from mplm_bench.registry import strategies
from mplm_bench.strategies.base import Strategy


@strategies.register("sos", protocol="sos")
class SOSStrategy(Strategy):
    """Stream-of-Search+: the serial protocol of the countdown task."""
