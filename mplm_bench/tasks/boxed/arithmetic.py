"""Worked arithmetic both generated sets write out (multiply's parts, math's products)."""

from __future__ import annotations


def partial(a: int, digit: int, place: int) -> str:
    """a × digit, right to left with carries, then shifted by `place` zeros."""
    lines, carry = [], 0
    for ch in reversed(str(a)):
        v = int(ch) * digit + carry
        lines.append(f"{ch} × {digit} + {carry} = {v}: write {v % 10}, carry {v // 10}.")
        carry = v // 10
    if carry:
        lines.append(f"Write the final carry {carry}.")
    shifted = f", with {place} zero{'s' if place != 1 else ''} appended: {a * digit * 10 ** place}" if place else ""
    return " ".join(lines) + f" So {a} × {digit} = {a * digit}{shifted}."
