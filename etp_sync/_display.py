"""Tables for people: results as aligned text (terminal) and HTML (Jupyter), plus pandas frames.

A table is a list of rows (any objects) and a list of :class:`Column` s that say how to read a
value from a row and how to show it. Text tables fit the terminal width by trimming the columns
marked ``trim`` (an ellipsis at the end, or in the middle for URIs, whose ends matter most), and
show only the first and last rows of long results, so printing 10,000 resources costs the same
as printing 20. A column marked ``common`` whose value is the same on every row moves out of the
table into the footer (e.g. the dataspace of a listing). Nothing here changes the rows: the
tables are views. pandas is imported only by :func:`to_dataframe`.
"""

from __future__ import annotations

import html
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal, TypeVar

from .errors import ETPInvalidArgument, ETPMissingDependency

__all__ = [
    "MAX_ROWS",
    "Column",
    "ResultDict",
    "ResultList",
    "ResultTuple",
    "TableRow",
    "TableView",
    "human_size",
    "local_time",
    "render_html",
    "render_text",
    "to_dataframe",
]

MAX_ROWS = 20
"""Rows shown before a table elides its middle (half from the head, half from the tail)."""
MIN_TRIMMED = 10
"""A trimmed column keeps at least this many characters (or its title's width)."""
GAP = "  "
ELLIPSIS = "…"


def _text(value: Any) -> str:
    return "" if value is None else str(value)


@dataclass(frozen=True)
class Column:
    """One column: ``value(row)`` is the raw value (what :func:`to_dataframe` gets), ``text``
    shows it in a cell. ``trim`` says how a too-wide terminal table shortens it (None: never);
    ``common``: moved to the footer when equal on every row; ``shown``: False for frame-only;
    ``first``: trimmed before the other trimmable columns (e.g. UUIDs, recognisable by their
    ends). A column whose cells are all blank is left out of the rendering."""

    title: str
    value: Callable[[Any], Any]
    text: Callable[[Any], str] = _text
    align: Literal["<", ">"] = "<"
    trim: Literal["end", "middle"] | None = None
    common: bool = False
    shown: bool = True
    first: bool = False


# -- cell formats ------------------------------------------------------------------------------


def local_time(value: datetime | None) -> str:
    """An aware datetime as local ISO time to the second; None (unknown, e.g. 0 µs) as ''."""
    if value is None:
        return ""
    return value.astimezone().isoformat(sep=" ", timespec="seconds")[:19]


_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_size(size: int | None) -> str:
    """Bytes as ``512 B``, ``1.5 KiB``, ``64.0 MiB``...; None as ''."""
    if size is None:
        return ""
    value = float(size)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _trim(text: str, width: int, how: Literal["end", "middle"] | None) -> str:
    if len(text) <= width or how is None:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    if how == "middle":
        tail = (width - 1) // 2
        return text[: width - 1 - tail] + ELLIPSIS + (text[-tail:] if tail else "")
    return text[: width - 1] + ELLIPSIS


# -- layout ------------------------------------------------------------------------------------


@dataclass
class _Layout:
    """What a rendering shows: visible columns, the row numbers kept, cells, footer facts."""

    columns: list[Column]
    indexes: list[int | None]  # None marks the elided middle
    cells: list[list[str]]
    notes: list[str]


def _layout(rows: Sequence[Any], columns: Sequence[Column], max_rows: int) -> _Layout:
    n = len(rows)
    if n > max_rows:
        head = max(1, max_rows // 2)
        tail = max(1, max_rows - head)
        indexes: list[int | None] = [*range(head), None, *range(n - tail, n)]
    else:
        indexes = list(range(n))
    kept = [i for i in indexes if i is not None]
    visible: list[Column] = []
    notes: list[str] = []
    for column in columns:
        if not column.shown:
            continue
        if column.common and kept:
            texts = {column.text(column.value(rows[i])) for i in kept}
            if len(texts) == 1 and (n <= max_rows or _all_same(rows, column)):
                notes.append(f"{column.title} {texts.pop() or '(none)'}")
                continue
        visible.append(column)
    cells = [[column.text(column.value(rows[i])) for column in visible] for i in kept]
    filled = [k for k in range(len(visible)) if any(row[k] for row in cells)]
    rows_out = iter([[row[k] for k in filled] for row in cells])
    return _Layout(
        [visible[k] for k in filled],
        indexes,
        [next(rows_out) if i is not None else [] for i in indexes],
        notes,
    )


def _all_same(rows: Sequence[Any], column: Column) -> bool:
    first = column.value(rows[0])
    return all(column.value(row) == first for row in rows)


def _footer(count: int, noun: str, notes: list[str]) -> str:
    return ", ".join([f"{count:,} {noun}", *notes])


def _fit(widths: list[int], columns: list[Column], budget: int) -> list[int]:
    """Shrink the trimmable columns (``first`` ones, then the widest) until the row fits
    ``budget`` characters."""
    widths = list(widths)
    floors = [max(MIN_TRIMMED, len(c.title)) for c in columns]
    excess = sum(widths) - budget
    while excess > 0:
        candidates = [
            i for i, c in enumerate(columns) if c.trim is not None and widths[i] > floors[i]
        ]
        candidates = [i for i in candidates if columns[i].first] or candidates
        if not candidates:
            break
        widest = max(candidates, key=lambda i: widths[i])
        others = [widths[i] for i in candidates if i != widest]
        target = max(floors[widest], max(others, default=0), widths[widest] - excess)
        cut = widths[widest] - target if target < widths[widest] else 1
        widths[widest] -= cut
        excess -= cut
    return widths


def render_text(
    rows: Sequence[Any],
    columns: Sequence[Column],
    noun: str,
    *,
    width: int | None = None,
    max_rows: int = MAX_ROWS,
) -> str:
    """An aligned text table of ``rows`` fitting ``width`` characters (default: the terminal's),
    with a numbered first column and a footer saying how many ``noun`` there are."""
    if width is None:
        width = shutil.get_terminal_size((100, 24)).columns
    layout = _layout(rows, columns, max_rows)
    number_width = len(str(max(len(rows) - 1, 0)))
    titles = [c.title for c in layout.columns]
    widths = [max([len(t), *(len(r[k]) for r in layout.cells if r)]) for k, t in enumerate(titles)]
    gaps = len(GAP) * len(widths)
    widths = _fit(widths, layout.columns, width - number_width - gaps)

    def line(first: str, texts: Sequence[str]) -> str:
        parts = [first.rjust(number_width)]
        for text, w, column in zip(texts, widths, layout.columns, strict=True):
            parts.append(format(_trim(text, w, column.trim), f"{column.align}{w}"))
        return GAP.join(parts).rstrip()

    out = [line("", titles)]
    for index, cells in zip(layout.indexes, layout.cells, strict=True):
        if index is None:
            out.append(line(ELLIPSIS, [ELLIPSIS] * len(widths)))
        else:
            out.append(line(str(index), cells))
    out.append(_footer(len(rows), noun, layout.notes))
    return "\n".join(out)


def render_html(
    rows: Sequence[Any], columns: Sequence[Column], noun: str, *, max_rows: int = MAX_ROWS
) -> str:
    """An HTML table of ``rows`` (the same cells as the text table, untrimmed, escaped)."""
    layout = _layout(rows, columns, max_rows)
    esc = html.escape

    def cell(tag: str, text: str, column: Column | None) -> str:
        style = ' style="text-align: right"' if column is not None and column.align == ">" else ""
        return f"<{tag}{style}>{esc(text)}</{tag}>"

    head = "".join(cell("th", c.title, c) for c in layout.columns)
    body = []
    for index, cells in zip(layout.indexes, layout.cells, strict=True):
        if index is None:
            texts = [ELLIPSIS] * len(layout.columns)
            body.append(f"<tr><th>{ELLIPSIS}</th>{''.join(f'<td>{t}</td>' for t in texts)}</tr>")
        else:
            tds = "".join(cell("td", t, c) for t, c in zip(cells, layout.columns, strict=True))
            body.append(f"<tr><th>{index}</th>{tds}</tr>")
    return (
        '<table class="etp-sync">'
        f"<thead><tr><th></th>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
        f"<p><small>{esc(_footer(len(rows), noun, layout.notes))}</small></p>"
    )


def to_dataframe(rows: Sequence[Any], columns: Sequence[Column]) -> Any:
    """A pandas DataFrame of every row, one column per :class:`Column` with its raw values
    (times as datetimes, sizes as ints). Needs pandas (the ``notebook`` extra)."""
    try:
        import pandas
    except ImportError:
        raise ETPMissingDependency(
            "to_pandas() needs pandas: pip install pandas (or etp_sync[notebook])", "pandas"
        ) from None
    return pandas.DataFrame(
        {c.title.replace(" ", "_"): [c.value(row) for row in rows] for c in columns},
        index=pandas.RangeIndex(len(rows)),
    )


# -- tabular containers ------------------------------------------------------------------------

K = TypeVar("K")
T = TypeVar("T")


class TableRow:
    """Mixin of a record type that tables can show: its ``table_columns`` and plural noun."""

    table_columns: ClassVar[tuple[Column, ...]] = ()
    table_noun: ClassVar[str] = "rows"


class TableView:
    """Mixin of a container of :class:`TableRow` records: ``repr``/``str`` print a text table,
    ``_repr_html_`` an HTML one (Jupyter), ``to_pandas()`` a DataFrame. A container that is
    empty or mixes record types falls back to its ordinary repr."""

    def _table_rows(self) -> Sequence[Any]:
        raise NotImplementedError

    def _plain_repr(self) -> str:
        raise NotImplementedError

    def _table(self) -> tuple[Sequence[Any], type[TableRow]] | None:
        rows = self._table_rows()
        if not rows:
            return None
        kind = type(rows[0])
        if not issubclass(kind, TableRow) or not all(type(r) is kind for r in rows):
            return None
        return rows, kind

    def to_text(self, *, width: int | None = None, max_rows: int = MAX_ROWS) -> str:
        """The text table, ``width`` characters wide at most (default: the terminal's)."""
        table = self._table()
        if table is None:
            return self._plain_repr()
        rows, kind = table
        return render_text(
            rows, kind.table_columns, kind.table_noun, width=width, max_rows=max_rows
        )

    def __repr__(self) -> str:
        return self.to_text()

    def __str__(self) -> str:
        return self.to_text()

    def _repr_html_(self) -> str | None:
        table = self._table()
        if table is None:
            return None
        rows, kind = table
        return render_html(rows, kind.table_columns, kind.table_noun)

    def to_pandas(self) -> Any:
        """Every record as a row of a pandas DataFrame (raw values: datetimes, ints, URIs as
        text). Needs pandas; raises :class:`~etp_sync.errors.ETPMissingDependency` otherwise."""
        rows = self._table_rows()
        kinds = {type(r) for r in rows}
        columns = next(iter(kinds)).table_columns if len(kinds) == 1 else ()
        if kinds and not columns:
            raise ETPInvalidArgument("to_pandas() needs records of one result type")
        return to_dataframe(rows, columns)


class ResultList(TableView, list[T]):
    """A list of results (equal to the same plain list) that prints as a table."""

    def _table_rows(self) -> Sequence[T]:
        return self

    def _plain_repr(self) -> str:
        return list.__repr__(self)


class ResultTuple(TableView, tuple[T, ...]):
    """A tuple of results (equal to the same plain tuple) that prints as a table."""

    def _table_rows(self) -> Sequence[T]:
        return self

    def _plain_repr(self) -> str:
        return tuple.__repr__(self)


class ResultDict(TableView, dict[K, T]):
    """A dict of results (equal to the same plain dict) whose values print as a table."""

    def _table_rows(self) -> Sequence[T]:
        return list(self.values())

    def _plain_repr(self) -> str:
        return dict.__repr__(self)
