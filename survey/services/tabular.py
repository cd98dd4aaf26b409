"""Reading uploaded CSV and XLSX tables with errors that name the row and column.

Row numbers are as a spreadsheet shows them: the header is row 1.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from survey.services.errors import Problem, ValidationError

#: Encodings an office may pick on the upload form; Excel in China saves CSV as GBK.
ENCODINGS = {"utf-8": "utf-8-sig", "gb18030": "gb18030"}

# A cell that a spreadsheet would run as a formula (=, +, @, or - not starting a number).
_FORMULA = re.compile(r"^(=|\+|@|-(?![\d.]))")


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
    return bool(_FORMULA.match(value))


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
    try:
        for cells in reader:
            yield reader.line_num, cells
    except csv.Error as error:
        raise ValidationError(f"{filename}: row {reader.line_num}: {error}") from None


def _xlsx_rows(filename: str, data: bytes) -> Iterator[tuple[int, list[str]]]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
        raise ValidationError(f"{filename}: not a readable XLSX workbook ({error})") from None
    try:
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
        yield from rows
    finally:
        workbook.close()
