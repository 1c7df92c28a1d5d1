"""The small builder the generator of :mod:`._compiled` writes Python source with: lines at an
indentation depth, blocks that indent what is written inside them, fresh local names, and the
identifier a record type's functions are named by. Nothing here runs in generated code."""

from __future__ import annotations


class _Source:
    """Lines of generated Python with indentation and fresh local names."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 1
        self._n = 0

    def line(self, text: str) -> None:
        self.lines.append("    " * self.depth + text)

    def fresh(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n}"

    def block(self, head: str) -> _Block:
        self.line(head)
        return _Block(self)


class _Block:
    def __init__(self, src: _Source) -> None:
        self.src = src

    def __enter__(self) -> None:
        self.src.depth += 1

    def __exit__(self, *exc: object) -> None:
        self.src.depth -= 1


def _ident(full_name: str) -> str:
    return full_name.replace(".", "_")
