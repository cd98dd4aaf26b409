"""Reading uploaded CSV and XLSX tables with errors that name the row and column;
writing exports whose cells a spreadsheet never runs as formulas (:func:`neutralise`).

Row numbers are as a spreadsheet shows them: the header is row 1.  Every importer
reads through :func:`open_sheet` (encoding detection, ragged rows) and maps the
file's own headers to its fields with :func:`match_header` (Chinese and English
synonyms), so the three importers and the preview page agree on what a file means.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from survey.services.errors import N_, Problem, ValidationError

#: Encodings an office may pick on the upload form ("auto" detects it).  Excel on
#: Chinese Windows saves CSV as GBK (read as its superset GB18030), "Unicode text" as
#: UTF-16 with tabs.
ENCODINGS: dict[str, str | None] = {
    "auto": None,
    "utf-8": "utf-8-sig",
    "gb18030": "gb18030",
    "utf-16": "utf-16",
}
# What charset-normalizer may answer, once a BOM and strict UTF-8 have not decided:
# UTF-16 text without a BOM has NUL bytes (its ASCII half), GB18030 text never has.
# Left free, it calls a short GBK file Big5, cp1252 or even UTF-16-BE.
_WITH_NUL = ["utf_16_le", "utf_16_be"]
_WITHOUT_NUL = ["gb18030"]
_LABELS = {
    "utf_8": "UTF-8",
    "gb18030": "GB18030",
    "utf_16": "UTF-16",
    "utf_16_le": "UTF-16",
    "utf_16_be": "UTF-16",
}

# First characters that make a spreadsheet run a cell as a formula (OWASP "CSV
# injection"): tab and carriage return too, because Excel strips them first.
_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# A signed plain number such as -3.2 or +86138: a spreadsheet reads it as a number, not
# a formula, so it stays untouched.  "-3+A1" is not one and is neutralised.
_SIGNED_NUMBER = re.compile(r"[+-](\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def header_key(text: str) -> str:
    """``text`` as header matching compares it: width- and case-insensitive, no spaces.

    NFKC folds full-width letters and digits (Ａ→A) that a Chinese input method types.
    """
    folded = unicodedata.normalize("NFKC", text).replace("\ufeff", "").casefold()
    return re.sub(r"[\s_\-]+", "", folded)


@dataclass(frozen=True)
class Field:
    """One thing an importer reads, with the header spellings that mean it."""

    name: str
    #: Header spellings, Chinese first: the first is the field's label on the page.
    synonyms: tuple[str, ...]
    required: bool = False

    @property
    def label(self) -> str:
        return self.synonyms[0] if self.synonyms else self.name

    def matches(self, header_cell: str) -> bool:
        key = header_key(header_cell)
        return bool(key) and key in {header_key(s) for s in (self.name, *self.synonyms)}


@dataclass
class Sheet:
    """An opened upload: its header and, lazily, its body rows.

    Rows with more or fewer cells than the header are not given to the caller; each
    becomes a problem in :attr:`problems` (never trimmed or padded silently).
    """

    filename: str
    encoding: str  # as detected or chosen ("UTF-8", "GB18030", "UTF-16", "XLSX")
    header_row: int
    header: tuple[str, ...]
    _rows: Iterator[tuple[int, list[str]]]
    _workbook: bool
    problems: list[Problem] = field(default_factory=list)

    def body(self) -> Iterator[tuple[int, list[str]]]:
        width = len(self.header)
        for number, cells in self._rows:
            if not any(c.strip() for c in cells):
                continue
            # A workbook has no row length: cells past the header count only when
            # something is typed in them.
            if self._workbook and not any(c.strip() for c in cells[width:]):
                yield number, cells[:width] + [""] * (width - len(cells))
                continue
            if len(cells) != width:
                self.problems.append(
                    Problem(
                        N_(
                            "the row has %(cells)d cells but the header has %(columns)d "
                            "columns; look for a missing or extra comma"
                        ),
                        row=number,
                        parameters={"cells": len(cells), "columns": width},
                    )
                )
                continue
            yield number, cells


def open_sheet(filename: str, data: bytes, encoding: str = "auto") -> Sheet:
    """Open a CSV/TXT or XLSX upload (by ``filename``'s extension) at its header row."""
    lower = filename.lower()
    if lower.endswith(".xlsx"):
        rows, label, workbook = _xlsx_rows(filename, data), "XLSX", True
    elif lower.endswith((".csv", ".txt")):
        text, label = decode(filename, data, encoding)
        rows, workbook = _csv_rows(filename, text), False
    else:
        raise ValidationError(
            N_("%(file)s: only .csv and .xlsx files can be imported"), parameters={"file": filename}
        )
    try:
        header_row, header = next(rows)
    except StopIteration:
        raise ValidationError(
            N_("%(file)s: the file is empty"), parameters={"file": filename}
        ) from None
    cells = [cell.replace("\ufeff", "").strip() for cell in header]
    if workbook:
        while cells and not cells[-1]:
            cells.pop()
    return Sheet(filename, label, header_row, tuple(cells), rows, workbook)


def decode(filename: str, data: bytes, encoding: str = "auto") -> tuple[str, str]:
    """``data`` as text and the encoding's name; ``auto`` detects it.

    A byte-order mark decides; else strict UTF-8; else charset-normalizer among the
    encodings offices use.  Bytes that are text in none of them are refused.
    """
    if encoding not in ENCODINGS:
        raise ValidationError(
            N_("unknown encoding %(encoding)s"), parameters={"encoding": repr(encoding)}
        )
    codec = ENCODINGS[encoding]
    if codec is None:
        codec, label = _detect(filename, data)
    else:
        label = encoding.upper()
    try:
        text = codecs.decode(data, codec)
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ValidationError(
            N_(
                "%(file)s: not valid %(encoding)s text at row %(row)d (byte %(byte)d); "
                "choose “automatic” or the file's encoding"
            ),
            [Problem(N_("invalid %(encoding)s bytes"), row=line, parameters={"encoding": label})],
            parameters={"file": filename, "encoding": label, "row": line, "byte": error.start},
        ) from None
    if "\x00" in text:
        raise ValidationError(
            N_("%(file)s: the file contains NUL bytes; is it really CSV?"),
            parameters={"file": filename},
        )
    return text, label


def _detect(filename: str, data: bytes) -> tuple[str, str]:
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", "UTF-8"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", "UTF-16"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8", "UTF-8"
    from charset_normalizer import from_bytes

    best = from_bytes(data, cp_isolation=_WITH_NUL if b"\x00" in data else _WITHOUT_NUL).best()
    if best is None or best.encoding not in _LABELS:
        raise ValidationError(
            N_(
                "%(file)s: the file is not text in UTF-8, GB18030 (GBK) or UTF-16; "
                "save it from Excel as CSV or XLSX"
            ),
            parameters={"file": filename},
        )
    return best.encoding, _LABELS[best.encoding]


def match_header(
    filename: str, header_row: int, header: Sequence[str], fields: Sequence[Field]
) -> dict[str, int]:
    """Which header cell each field is in (fields absent from the file are left out).

    A required field with no column, or a field two columns claim, is refused with
    the columns named.
    """
    found: dict[str, int] = {}
    problems: list[Problem] = []
    columns = "、".join(cell for cell in header if cell) or "—"
    for wanted in fields:
        hits = [index for index, cell in enumerate(header) if wanted.matches(cell)]
        if len(hits) > 1:
            problems.append(
                Problem(
                    N_("columns %(columns)s all mean “%(field)s”; keep one of them"),
                    row=header_row,
                    parameters={
                        "columns": "、".join(f"“{header[i]}”" for i in hits),
                        "field": wanted.label,
                    },
                )
            )
        elif hits:
            found[wanted.name] = hits[0]
        elif wanted.required:
            problems.append(
                Problem(
                    N_(
                        "no column for “%(field)s” (headers it may have: %(synonyms)s); the "
                        "file's columns are: %(columns)s"
                    ),
                    row=header_row,
                    parameters={
                        "field": wanted.label,
                        "synonyms": "、".join(wanted.synonyms),
                        "columns": columns,
                    },
                )
            )
    if problems:
        raise ValidationError(
            N_("%(file)s: the header does not fit this import; nothing was imported"),
            problems,
            parameters={"file": filename},
        )
    return found


@dataclass(frozen=True)
class Table:
    """A parsed upload: canonical column names and rows keyed by them."""

    filename: str
    columns: tuple[str, ...]
    rows: tuple[tuple[int, dict[str, str]], ...]  # (spreadsheet row number, values)
    encoding: str = "UTF-8"
    #: canonical name → the header as written in the file (what row errors name)
    headers: Mapping[str, str] = field(default_factory=dict)

    def column(self, name: str) -> str:
        return self.headers.get(name, name)


def fields_of(columns: Mapping[str, Sequence[str]], required: Sequence[str]) -> list[Field]:
    """Fields from ``{canonical: [spellings]}`` (the importers' declarations)."""
    return [
        Field(name, tuple(spellings), required=name in required)
        for name, spellings in columns.items()
    ]


def read_table(
    filename: str,
    data: bytes,
    *,
    columns: Mapping[str, Sequence[str]],
    required: Sequence[str],
    encoding: str = "auto",
    max_rows: int = 100_000,
) -> Table:
    """Parse ``data`` as CSV or XLSX (by ``filename``'s extension).

    ``columns`` maps each canonical column name to the header spellings accepted
    for it (e.g. ``"name": ["名称", "单位名称", "name"]``; the first is its label).
    Every problem in the file is collected and raised together as a
    :class:`ValidationError`.
    """
    sheet = open_sheet(filename, data, encoding)
    mapping = match_header(filename, sheet.header_row, sheet.header, fields_of(columns, required))
    headers = {name: sheet.header[index] for name, index in mapping.items()}
    problems: list[Problem] = []
    rows: list[tuple[int, dict[str, str]]] = []
    for number, cells in sheet.body():
        if len(rows) >= max_rows:
            raise ValidationError(
                N_("%(file)s: more than %(rows)d rows"),
                parameters={"file": filename, "rows": max_rows},
            )
        values: dict[str, str] = {}
        for canonical, index in mapping.items():
            value = cells[index].strip()
            if looks_like_formula(value):
                problems.append(
                    Problem(
                        N_("%(value)s looks like a spreadsheet formula; type the value"),
                        row=number,
                        column=headers[canonical],
                        parameters={"value": repr(value[:30])},
                    )
                )
            values[canonical] = value
        rows.append((number, values))
    problems = sorted([*sheet.problems, *problems], key=lambda p: p.row or 0)
    if problems:
        raise ValidationError(
            N_("%(file)s: %(count)d problem(s); nothing was imported"),
            problems,
            parameters={"file": filename, "count": len(problems)},
        )
    present = tuple(name for name in columns if name in mapping)
    return Table(
        filename=filename,
        columns=present,
        rows=tuple(rows),
        encoding=sheet.encoding,
        headers=headers,
    )


def mapped_labels(
    filename: str,
    data: bytes,
    encoding: str,
    columns: Mapping[str, Sequence[str]],
    required: Sequence[str],
) -> dict[str, str]:
    """Header → field label, as :func:`read_table` would map ``data``'s header."""
    sheet = open_sheet(filename, data, encoding)
    fields = fields_of(columns, required)
    found = match_header(filename, sheet.header_row, sheet.header, fields)
    labels = {f.name: f.label for f in fields}
    return {sheet.header[index]: labels[name] for name, index in found.items()}


@dataclass(frozen=True)
class Preview:
    """What the preview page shows of an upload before anything is stored."""

    filename: str
    encoding: str
    #: each header of the file with the field it was mapped to ("" when not used)
    mapping: tuple[tuple[str, str], ...]
    header: tuple[str, ...]
    first_rows: tuple[tuple[int, tuple[str, ...]], ...]
    total_rows: int


def preview(
    filename: str,
    data: bytes,
    encoding: str,
    mapped: Mapping[str, str],
    *,
    limit: int = 10,
) -> Preview:
    """The first ``limit`` rows and the row count; ``mapped`` is header → field label."""
    sheet = open_sheet(filename, data, encoding)
    first: list[tuple[int, tuple[str, ...]]] = []
    total = 0
    for number, cells in sheet.body():
        total += 1
        if len(first) < limit:
            first.append((number, tuple(cells)))
    return Preview(
        filename=filename,
        encoding=sheet.encoding,
        mapping=tuple((cell, mapped.get(cell, "")) for cell in sheet.header),
        header=sheet.header,
        first_rows=tuple(first),
        total_rows=total,
    )


def looks_like_formula(value: str) -> bool:
    """Whether a spreadsheet would run ``value`` as a formula."""
    return value.startswith(_FORMULA_TRIGGERS) and not _SIGNED_NUMBER.fullmatch(value)


def _csv_rows(filename: str, text: str) -> Iterator[tuple[int, list[str]]]:
    first_line = text.split("\n", 1)[0]
    # Excel's "Unicode text" is tab-separated; a header with tabs and no comma is that.
    delimiter = "\t" if "\t" in first_line and "," not in first_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    # Records, not reader.line_num: a quoted cell with a line break is still one
    # spreadsheet row, and the office looks the row number up in its spreadsheet.
    number = 0
    try:
        for number, cells in enumerate(reader, start=1):
            yield number, cells
    except csv.Error as error:
        raise ValidationError(
            N_("%(file)s: row %(row)d: %(error)s"),
            [
                Problem(
                    N_("the CSV cannot be read here: %(error)s"),
                    row=number + 1,
                    parameters={"error": str(error)},
                )
            ],
            parameters={"file": filename, "row": number + 1, "error": str(error)},
        ) from None


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
    return ValidationError(
        N_("%(file)s: not a readable XLSX workbook (%(detail)s)"),
        parameters={"file": filename, "detail": detail[:200]},
    )


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
                        N_("formula cell; paste the value instead"),
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
            N_("%(file)s: %(count)d formula cell(s); nothing was imported"),
            problems,
            parameters={"file": filename, "count": len(problems)},
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
