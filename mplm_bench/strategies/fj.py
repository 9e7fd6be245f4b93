"""Fork-join: a master spawns short-lived workers each round and joins on all of them."""

from mplm_bench.registry import strategies
from mplm_bench.strategies.base import Strategy


@strategies.register("fj", protocol="fj")
class FJStrategy(Strategy):
    """The fork-join protocol: the master joins on every worker it spawned."""

    streams_input = True  # a worker starts when its chunk has arrived (docs/streaming.md)
