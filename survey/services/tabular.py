"""Reading uploaded CSV and XLSX tables with errors that name the row and column;
writing exports whose cells a spreadsheet never runs as formulas (:func:`neutralise`).

Row numbers are as a spreadsheet shows them: the header is row 1.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from survey.services.errors import Problem, ValidationError

#: Encodings an office may pick on the upload form; Excel in China saves CSV as GBK.
ENCODINGS = {"utf-8": "utf-8-sig", "gb18030": "gb18030"}

# First characters that make a spreadsheet run a cell as a formula (OWASP "CSV
# injection"): tab and carriage return too, because Excel strips them first.
_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# A signed plain number such as -3.2 or +86138: a spreadsheet reads it as a number, not
# a formula, so it stays untouched.  "-3+A1" is not one and is neutralised.
_SIGNED_NUMBER = re.compile(r"[+-](\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


@dataclass(frozen=True)
class Table:
    """A parsed upload: canonical column names and rows keyed by them."""

    filename: str
    columns: tuple[str, ...]
    rows: tuple[tuple[int, dict[str, str]], ...]  # (spreadsheet row number, values)


def read_table(
    filename: str,
    data: bytes,
    *,
    columns: Mapping[str, Sequence[str]],
    required: Sequence[str],
    encoding: str = "utf-8",
    max_rows: int = 100_000,
) -> Table:
    """Parse ``data`` as CSV or XLSX (by ``filename``'s extension).

    ``columns`` maps each canonical column name to the header spellings accepted
    for it (e.g. ``"name": ["name", "名称", "单位名称"]``).  Every problem in the
    file is collected and raised together as a :class:`ValidationError`.
    """
    raw_rows = list(iter_rows(filename, data, encoding))
    if not raw_rows:
        raise ValidationError(f"{filename}: the file is empty")
    header_row, header = raw_rows[0]
    aliases = {
        alias.strip().lower(): canonical
        for canonical, spellings in columns.items()
        for alias in (canonical, *spellings)
    }
    mapped: list[str | None] = [aliases.get(str(cell).strip().lower()) for cell in header]
    missing = [name for name in required if name not in mapped]
    if missing:
        raise ValidationError(
            f"{filename}: missing column(s) {', '.join(missing)}",
            [Problem(f"missing column {name!r} in the header", row=header_row) for name in missing],
        )
    body = [(number, cells) for number, cells in raw_rows[1:] if any(c.strip() for c in cells)]
    if len(body) > max_rows:
        raise ValidationError(f"{filename}: more than {max_rows} rows")
    problems: list[Problem] = []
    rows: list[tuple[int, dict[str, str]]] = []
    for number, cells in body:
        values: dict[str, str] = {}
        for index, canonical in enumerate(mapped):
            if canonical is None:
                continue
            value = cells[index].strip() if index < len(cells) else ""
            if looks_like_formula(value):
                problems.append(
                    Problem(
                        f"{value[:30]!r} looks like a spreadsheet formula; type the value",
                        row=number,
                        column=canonical,
                    )
                )
            values[canonical] = value
        rows.append((number, values))
    if problems:
        raise ValidationError(
            f"{filename}: {len(problems)} problem(s); nothing was imported", problems
        )
    present = tuple(name for name in columns if name in mapped)
    return Table(filename=filename, columns=present, rows=tuple(rows))


def iter_rows(
    filename: str, data: bytes, encoding: str = "utf-8"
) -> Iterator[tuple[int, list[str]]]:
    """Rows of a CSV or XLSX upload as ``(spreadsheet row number, cells)``, header first.

    Formula cells of a workbook are refused up front; CSV cells are returned as typed
    (callers check formula-like text per column with :func:`looks_like_formula`).
    """
    lower = filename.lower()
    if lower.endswith(".xlsx"):
        return _xlsx_rows(filename, data)
    if lower.endswith((".csv", ".txt")):
        return _csv_rows(filename, data, encoding)
    raise ValidationError(f"{filename}: only .csv and .xlsx files can be imported")


def looks_like_formula(value: str) -> bool:
    """Whether a spreadsheet would run ``value`` as a formula."""
    return value.startswith(_FORMULA_TRIGGERS) and not _SIGNED_NUMBER.fullmatch(value)


def _csv_rows(filename: str, data: bytes, encoding: str) -> Iterator[tuple[int, list[str]]]:
    codec = ENCODINGS.get(encoding)
    if codec is None:
        raise ValidationError(f"unknown encoding {encoding!r}")
    try:
        text = codecs.decode(data, codec)
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        hint = (
            " If it was saved by Excel as GBK/GB18030, choose that encoding."
            if (codec != "gb18030")
            else ""
        )
        raise ValidationError(
            f"{filename}: not valid {encoding.upper()} text at row {line} "
            f"(byte {error.start}).{hint}",
            [Problem(f"invalid {encoding.upper()} bytes", row=line)],
        ) from None
    if "\x00" in text:
        raise ValidationError(f"{filename}: the file contains NUL bytes; is it really CSV?")
    reader = csv.reader(io.StringIO(text, newline=""))
    # Records, not reader.line_num: a quoted cell with a line break is still one
    # spreadsheet row, and the office looks the row number up in its spreadsheet.
    number = 0
    try:
        for number, cells in enumerate(reader, start=1):
            yield number, cells
    except csv.Error as error:
        raise ValidationError(f"{filename}: row {number + 1}: {error}") from None


def _xlsx_rows(filename: str, data: bytes) -> Iterator[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    # A damaged zip or XML part surfaces from openpyxl as almost any exception (zlib.error,
    # BadZipFile, KeyError, ParseError, TypeError …), on opening or only while reading rows:
    # every one of them means the same to the office, so all become the named error.
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception as error:
        raise _unreadable(filename, error) from None
    try:
        rows = _read_sheet(filename, workbook)
    except ValidationError:
        raise
    except Exception as error:
        raise _unreadable(filename, error) from None
    finally:
        workbook.close()
    yield from rows


def _unreadable(filename: str, error: Exception) -> ValidationError:
    detail = str(error) or type(error).__name__
    return ValidationError(f"{filename}: not a readable XLSX workbook ({detail[:200]})")


def _read_sheet(filename: str, workbook: Any) -> list[tuple[int, list[str]]]:
    sheet = workbook.worksheets[0]
    problems: list[Problem] = []
    rows: list[tuple[int, list[str]]] = []
    for row in sheet.iter_rows():
        cells: list[str] = []
        number = 0
        for cell in row:
            number = getattr(cell, "row", number) or number
            if getattr(cell, "data_type", None) == "f":
                problems.append(
                    Problem(
                        "formula cell; paste the value instead",
                        row=number,
                        column=getattr(cell, "column_letter", None),
                    )
                )
            value = cell.value
            if value is None:
                cells.append("")
            elif isinstance(value, float) and value.is_integer():
                cells.append(str(int(value)))
            else:
                cells.append(str(value))
        if number:
            rows.append((number, cells))
    if problems:
        raise ValidationError(
            f"{filename}: {len(problems)} formula cell(s); nothing was imported", problems
        )
    return rows


# --- exports -------------------------------------------------------------------------


def neutralise(value: object) -> object:
    """``value`` made safe for a spreadsheet cell: formula-like text gets a leading ``'``.

    The one place every CSV and XLSX export goes through; numbers and other
    text are returned unchanged.
    """
    if isinstance(value, str) and looks_like_formula(value):
        return "'" + value
    return value


def csv_text(rows: Iterable[Sequence[object]], *, lineterminator: str = "\n") -> str:
    """``rows`` as CSV text with every cell passed through :func:`neutralise`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=lineterminator)
    # The csv module quotes only the line terminator's own characters: a lone CR
    # would start a new row in Excel, and the text after it would be a fresh cell.
    quoted = csv.writer(buffer, lineterminator=lineterminator, quoting=csv.QUOTE_ALL)
    for row in rows:
        cells = [neutralise(value) for value in row]
        breaks = any(isinstance(cell, str) and ("\r" in cell or "\n" in cell) for cell in cells)
        (quoted if breaks else writer).writerow(cells)
    return buffer.getvalue()
