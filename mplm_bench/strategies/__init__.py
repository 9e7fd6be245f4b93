"""Strategies: a protocol plus a scheduler over the one runtime."""
