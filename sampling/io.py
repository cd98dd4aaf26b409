"""CSV input and atomic output for the CLI (the library itself does no I/O).

Columns are read with :mod:`pyarrow.csv` (multi-threaded, typed).  Every
problem is reported with the file, the 1-based line (the header is line 1)
and the column: an unknown column lists the available ones, a non-numeric
value names the first offending line.  Line numbers assume no quoted
newlines inside fields.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from sampling.errors import N_, InputError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def read_header(path: str) -> list[str]:
    """Column names of a CSV file (first line)."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        header = next(csv.reader(handle), None)
    if not header:
        raise InputError(
            N_("the file is empty (no header line)"), code="csv.empty_file", file=path, line=1
        )
    return header


@dataclass(frozen=True)
class CsvTable:
    """Columns of a CSV file held as a :class:`pyarrow.Table`."""

    path: str
    table: Any  # pyarrow.Table; typed loosely so pyarrow stays a lazy import
    header: tuple[str, ...]

    @property
    def n_rows(self) -> int:
        """Number of data rows."""
        return int(self.table.num_rows)

    def require(self, name: str) -> None:
        """Raise a clear error when ``name`` is not a column."""
        if name not in self.header:
            raise InputError(
                N_("unknown column %(column)r; available columns: %(columns)s"),
                code="csv.unknown_column",
                parameters={"column": name, "columns": ", ".join(self.header)},
                file=self.path,
                line=1,
            )

    def numeric(self, name: str, *, allow_missing: bool = False) -> FloatArray:
        """A numeric column as float64; missing values become NaN if allowed."""
        import pyarrow as pa

        self.require(name)
        column = self.table.column(name)
        if column.type == pa.float64() and (allow_missing or not column.null_count):
            return _float_values(column)
        import pyarrow.compute as pc

        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            stripped = pc.utf8_trim_whitespace(column)
            blank = pc.equal(stripped, "")
            stripped = pc.if_else(blank, pa.scalar(None, pa.string()), stripped)
            try:
                column = pc.cast(stripped, pa.float64())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                self._raise_first_non_numeric(name, stripped)
        elif pa.types.is_null(column.type):
            column = pa.chunked_array([pa.nulls(len(column), pa.float64())])
        elif not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
            self._raise_first_non_numeric(name, pc.cast(column, pa.string()))
        if column.null_count and not allow_missing:
            first = _first_true(pc.is_null(column))
            raise InputError(
                N_("missing value"),
                code="csv.missing_value",
                file=self.path,
                line=first + 2,
                column=name,
            )
        if not pa.types.is_float64(column.type):
            column = pc.cast(column, pa.float64())
        return _float_values(column)

    def _raise_first_non_numeric(self, name: str, column: Any) -> None:
        for index, text in enumerate(column.to_pylist()):
            if text is None:
                continue
            try:
                float(text)
            except ValueError:
                raise InputError(
                    N_("not a number: %(value)r"),
                    code="csv.not_a_number",
                    parameters={"value": text},
                    file=self.path,
                    line=index + 2,
                    column=name,
                ) from None
        raise InputError(
            N_("not a numeric column"), code="csv.not_numeric", file=self.path, column=name
        )

    def labels(self, name: str) -> tuple[IntArray, npt.NDArray[Any]]:
        """A label column as (codes, sorted levels); missing labels are an error."""
        self.require(name)
        column = self.table.column(name)
        if column.null_count:
            import pyarrow.compute as pc

            first = _first_true(pc.is_null(column))
            raise InputError(
                N_("missing value"),
                code="csv.missing_value",
                file=self.path,
                line=first + 2,
                column=name,
            )
        encoded = column.combine_chunks().dictionary_encode()
        # Arrow -> Python conversions (to_numpy, scalars) import pandas, which
        # costs ~0.2 s of start-up: read the buffers directly instead.
        dictionary = np.asarray(encoded.dictionary.to_pylist())
        indices = _integer_values(encoded.indices)
        if dictionary.dtype.kind in "US":
            blank = np.char.strip(dictionary.astype(str)) == ""
            if blank.any():
                first = int(np.flatnonzero(np.isin(indices, np.flatnonzero(blank)))[0])
                raise InputError(
                    N_("missing value"),
                    code="csv.missing_value",
                    file=self.path,
                    line=first + 2,
                    column=name,
                )
        order = np.argsort(dictionary, kind="stable")
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        return rank[indices], dictionary[order]

    def text(self, name: str) -> npt.NDArray[np.str_]:
        """A column as strings (for matching against labels in margin files)."""
        codes, levels = self.labels(name)
        return np.asarray([str(level) for level in levels.tolist()], dtype=str)[codes]


def read_csv(
    path: str,
    columns: Sequence[str],
    *,
    numeric: Sequence[str] = (),
    all_text: bool = False,
) -> CsvTable:
    """Read ``columns`` of a CSV file (all of them when ``all_text``).

    Parameters
    ----------
    path
        The CSV file (UTF-8, header line).
    columns
        Columns needed; unknown names raise an :class:`InputError` listing
        the available ones.
    numeric
        Columns to parse as float64 directly (fast path).
    all_text
        Read every column as text, e.g. to write the file back unchanged.
    """
    import pyarrow as pa
    from pyarrow import csv as pa_csv

    if not Path(path).is_file():
        raise InputError(N_("file not found"), code="csv.not_found", file=path)
    header = read_header(path)
    duplicates = {name for name in header if header.count(name) > 1}
    if duplicates:
        raise InputError(
            N_("duplicate column names: %(columns)s"),
            code="csv.duplicate_column",
            parameters={"columns": ", ".join(sorted(duplicates))},
            file=path,
            line=1,
        )
    table_stub = CsvTable(path=path, table=None, header=tuple(header))
    for name in columns:
        table_stub.require(name)
    if all_text:
        types = {name: pa.string() for name in header}
        include = list(header)
    else:
        types = {name: pa.float64() for name in numeric}
        include = list(dict.fromkeys(columns))
    convert = pa_csv.ConvertOptions(
        column_types=types,
        include_columns=include,
        strings_can_be_null=False,
        null_values=["", "NA", "NaN", "nan", "null", "NULL"],
    )
    try:
        table = pa_csv.read_csv(path, convert_options=convert)
    except pa.ArrowInvalid as error:
        if "conversion error" in str(error) or "CSV conversion" in str(error):
            text_types = {name: pa.string() for name in include}
            table = pa_csv.read_csv(
                path,
                convert_options=pa_csv.ConvertOptions(
                    column_types=text_types, include_columns=include, strings_can_be_null=False
                ),
            )
            stub = CsvTable(path=path, table=table, header=tuple(header))
            for name in numeric:
                stub.numeric(name, allow_missing=True)
        raise InputError(
            N_("cannot parse the CSV file: %(error)s"),
            code="csv.unparsable",
            parameters={"error": str(error)},
            file=path,
        ) from None
    return CsvTable(path=path, table=table, header=tuple(header))


def _float_values(column: Any) -> FloatArray:
    """float64 values of a chunked Arrow column, nulls as NaN, without pandas."""
    parts = []
    for chunk in column.chunks:
        validity, data = chunk.buffers()[:2]
        values = np.frombuffer(data, dtype=np.float64, count=len(chunk), offset=chunk.offset * 8)
        if chunk.null_count:
            bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
            values = np.where(bits[chunk.offset : chunk.offset + len(chunk)] == 1, values, np.nan)
        parts.append(values)
    if not parts:
        return np.empty(0)
    return np.concatenate(parts).astype(np.float64, copy=True)


def _integer_values(array: Any) -> IntArray:
    """int64 copy of a null-free Arrow integer array, without pandas."""
    width = array.type.bit_width // 8
    data = np.frombuffer(
        array.buffers()[1],
        dtype=np.dtype(f"<i{width}"),
        count=len(array),
        offset=array.offset * width,
    )
    return data.astype(np.int64)


def _first_true(mask: Any) -> int:
    import pyarrow as pa

    array = mask.combine_chunks() if isinstance(mask, pa.ChunkedArray) else mask
    for index, value in enumerate(array.to_pylist()):
        if value:
            return index
    raise ValueError("no true value")


def write_atomically(path: str, write: Callable[[IO[str]], None]) -> None:
    """Write a text file through a temporary file and a rename (never partial)."""
    target = Path(path)
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(descriptor, "w", newline="", encoding="utf-8") as handle:
            write(handle)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_table_with_column(path: str, source: CsvTable, name: str, values: FloatArray) -> None:
    """Write ``source`` (read with ``all_text``) plus a numeric column, atomically."""
    import pyarrow as pa
    from pyarrow import csv as pa_csv

    if name in source.header:
        raise InputError(
            N_("the data already has a column %(column)r"),
            code="csv.column_clash",
            parameters={"column": name},
            file=source.path,
            line=1,
        )
    table = source.table.append_column(name, pa.array([repr(float(v)) for v in values]))

    def write(handle: IO[str]) -> None:
        sink = pa.BufferOutputStream()
        pa_csv.write_csv(table, sink, write_options=pa_csv.WriteOptions(quoting_style="needed"))
        handle.write(sink.getvalue().to_pybytes().decode("utf-8"))

    write_atomically(path, write)
