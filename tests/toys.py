"""Small helpers shared by tests."""


class CharCounter:
    """One token per character: keeps token arithmetic in runtime tests exact and obvious."""

    name, exact = "chars", True

    def count(self, text: str) -> int:
        return len(text)

    def overhead(self, system: str | None) -> int:
        return 0
