"""Adaptive parallel reasoning (docs/parallel.md): the model decides when to fork and how wide.

ThreadWeaver, Parallel-R1 and Multiverse as continuation dialects over the one runtime: a fork
spawns children on the parent's prefix, the join is the parent's recv on all of them, then the
parent continues decoding the same assistant turn.
"""
