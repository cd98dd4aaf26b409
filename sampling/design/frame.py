"""Sampling frame (抽样框): reading, validation and the canonical SHA-256.

A frame is a table of text columns.  The draw uses three of them by *role*:
``id`` (unique, non-empty), ``stratum`` (non-empty) and, for PPS, ``size``.
Every value stays text from file to sample file, so ids and phone numbers keep
leading zeros and round-trip byte for byte.

Canonical frame digest (``minyi-frame-v1``)
-------------------------------------------
The frame hash is defined over the *values of the used columns*, so a frame
read from a CSV file and the same frame held in a database give the same hash
and column names, quoting, line endings, a BOM and unused columns do not
matter.  For each role in the order ``id``, ``stratum`` (, ``size``) let

* ``values`` be the concatenation of the role's UTF-8 values in frame order and
* ``lengths`` be the byte length of each value as an unsigned 64-bit
  little-endian integer, in frame order;

the frame hash is the SHA-256 (hex) of the UTF-8 text::

    minyi-frame-v1\n
    <role>:<row count>:<sha256 hex of values>:<sha256 hex of lengths>\n   (per role)

Both halves together determine every value exactly, and the form is computed
from Arrow's own buffers without building a copy of the frame.  See
``docs/sampling.md`` for a ten-line reference implementation.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from sampling.errors import InputError

__all__ = [
    "FRAME_DIGEST_VERSION",
    "Frame",
    "column_digest_lines",
    "digest_columns",
    "frame_from_rows",
    "read_csv_text_table",
    "read_frame_csv",
]

FRAME_DIGEST_VERSION = "minyi-frame-v1"

# Arrow parses blocks in parallel; 1 MiB keeps both cores busy.
_BLOCK_SIZE = 1 << 20


@dataclass(frozen=True)
class Frame:
    """A validated sampling frame.

    Attributes
    ----------
    table
        All columns as Arrow text columns, in frame order.
    id_column, stratum_column, size_column
        Names of the columns that play the roles ``id``, ``stratum``, ``size``.
    source
        File name for messages, or ``None`` for a frame built in memory.
    sizes
        The size measure as float64 (PPS), or ``None``.
    """

    table: pa.Table
    id_column: str
    stratum_column: str
    size_column: str | None
    source: str | None
    sizes: npt.NDArray[np.float64] | None

    @property
    def row_count(self) -> int:
        """Number of rows."""
        return int(self.table.num_rows)

    def error(self, message: str, row: int | None = None, column: str | None = None) -> InputError:
        """Build an :class:`InputError` pointing at ``row`` (0-based) and ``column``."""
        if self.source is None:
            prefix = f"row {row + 1}: " if row is not None else ""
            return InputError(prefix + message, column=column)
        return InputError(
            message, file=self.source, line=None if row is None else row + 2, column=column
        )

    def roles(self) -> list[tuple[str, str]]:
        """Return ``(role, column name)`` pairs of the used columns, in digest order."""
        pairs = [("id", self.id_column), ("stratum", self.stratum_column)]
        if self.size_column is not None:
            pairs.append(("size", self.size_column))
        return pairs

    def sha256(self) -> str:
        """Canonical frame digest (``minyi-frame-v1``) of the used columns."""
        return digest_columns([(role, self.table.column(name)) for role, name in self.roles()])


def read_csv_text_table(path: str | os.PathLike[str], *, block_size: int = _BLOCK_SIZE) -> pa.Table:
    """Read a CSV file with every column as text (no type inference).

    Empty fields stay empty strings (never null); a UTF-8 BOM is skipped;
    ``\\r\\n`` line endings are accepted.  A malformed file raises
    :class:`InputError` naming the file and, where it can be found, the line.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as handle:
            first = handle.readline().decode("utf-8-sig").rstrip("\r\n")
        column_names = next(csv.reader([first])) if first else []
        if not column_names:
            raise InputError("the file is empty: a header line is needed", file=name, line=1)
        if len(set(column_names)) != len(column_names):
            duplicate = next(c for c in column_names if column_names.count(c) > 1)
            raise InputError(f"column {duplicate!r} appears twice in the header", file=name, line=1)
        convert = pacsv.ConvertOptions(
            column_types={column: pa.string() for column in column_names},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )
        try:
            # Most frames have no line breaks inside quoted values, and the
            # parser is much faster when it may split blocks at any newline.
            table = pacsv.read_csv(
                name,
                read_options=pacsv.ReadOptions(block_size=block_size),
                parse_options=pacsv.ParseOptions(newlines_in_values=False),
                convert_options=convert,
            )
        except pa.ArrowInvalid:
            table = pacsv.read_csv(
                name,
                read_options=pacsv.ReadOptions(block_size=block_size),
                parse_options=pacsv.ParseOptions(newlines_in_values=True),
                convert_options=convert,
            )
    except (pa.ArrowInvalid, UnicodeDecodeError) as error:
        raise _locate_csv_error(name, error) from None
    return table


def read_frame_csv(
    path: str | os.PathLike[str],
    *,
    id_column: str,
    stratum_column: str,
    size_column: str | None = None,
) -> Frame:
    """Read and validate a frame CSV file.

    Parameters
    ----------
    path
        The CSV file (UTF-8, header line first).
    id_column, stratum_column, size_column
        Column names for the roles ``id``, ``stratum`` and (PPS) ``size``.

    Raises
    ------
    InputError
        A column is missing, an id or stratum is empty, an id is repeated
        (both lines are named) or a size is not a number ≥ 0.
    """
    name = os.fspath(path)
    table = read_csv_text_table(name)
    return _validated(table, id_column, stratum_column, size_column, name)


def frame_from_rows(
    ids: Sequence[str],
    strata: Sequence[str],
    sizes: Sequence[str] | None = None,
) -> Frame:
    """Build a frame in memory (the web app's path) from parallel sequences.

    ``sizes`` are given as text, exactly as they enter the frame digest.
    """
    columns: dict[str, pa.Array] = {
        "id": pa.array(list(ids), type=pa.string()),
        "stratum": pa.array(list(strata), type=pa.string()),
    }
    if sizes is not None:
        columns["size"] = pa.array(list(sizes), type=pa.string())
    lengths = {len(column) for column in columns.values()}
    if len(lengths) != 1:
        raise InputError("ids, strata and sizes must have the same length")
    for role, column in columns.items():
        if column.null_count:
            row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
            raise InputError(f"row {row + 1}: the {role} is missing", column=role)
    table = pa.table(columns)
    return _validated(table, "id", "stratum", "size" if sizes is not None else None, None)


def digest_columns(columns: Sequence[tuple[str, pa.ChunkedArray | pa.Array]]) -> str:
    """SHA-256 (hex) of ``(role, text column)`` pairs in the ``minyi-frame-v1`` form."""
    outer = hashlib.sha256(FRAME_DIGEST_VERSION.encode() + b"\n")
    for line in column_digest_lines(columns):
        outer.update(line.encode() + b"\n")
    return outer.hexdigest()


def column_digest_lines(columns: Sequence[tuple[str, pa.ChunkedArray | pa.Array]]) -> list[str]:
    """The per-role lines ``role:rows:sha256(values):sha256(lengths)`` of the digest."""
    lines = []
    for role, column in columns:
        chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
        values = hashlib.sha256()
        lengths = hashlib.sha256()
        rows = 0
        for chunk in chunks:
            offsets, data = _string_buffers(chunk)
            # hashlib releases the GIL for large buffers; slices are zero-copy.
            values.update(data[int(offsets[0]) : int(offsets[-1])])
            lengths.update(np.diff(offsets).astype("<u8").tobytes())
            rows += len(chunk)
        lines.append(f"{role}:{rows}:{values.hexdigest()}:{lengths.hexdigest()}")
    return lines


def string_lengths(column: pa.ChunkedArray) -> npt.NDArray[np.int64]:
    """Byte length of every value of a text column."""
    parts = [np.diff(_string_buffers(chunk)[0]) for chunk in column.chunks]
    if not parts:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate(parts).astype(np.int64)


def _string_buffers(chunk: pa.Array) -> tuple[npt.NDArray[np.int64], memoryview]:
    if pa.types.is_large_string(chunk.type):
        offset_type: type[np.generic] = np.int64
    elif pa.types.is_string(chunk.type):
        offset_type = np.int32
    else:  # pragma: no cover - callers only pass text columns
        raise TypeError(f"expected a text column, got {chunk.type}")
    buffers = chunk.buffers()
    offsets = np.frombuffer(
        buffers[1],
        dtype=offset_type,
        count=len(chunk) + 1,
        offset=chunk.offset * np.dtype(offset_type).itemsize,
    )
    data = memoryview(buffers[2]) if buffers[2] is not None else memoryview(b"")
    return offsets.astype(np.int64, copy=False), data


def _validated(
    table: pa.Table,
    id_column: str,
    stratum_column: str,
    size_column: str | None,
    source: str | None,
) -> Frame:
    frame = Frame(table, id_column, stratum_column, size_column, source, None)
    for role, column in frame.roles():
        if column not in table.column_names:
            found = ", ".join(table.column_names)
            raise InputError(
                f"no {role} column {column!r} in the header (columns: {found})",
                file=source,
                line=1 if source is not None else None,
                column=column,
            )
    if table.num_rows == 0:
        raise InputError("the frame has no rows", file=source, line=2 if source else None)
    for column in (id_column, stratum_column):
        empty = pc.equal(table.column(column), "")
        if pc.any(empty).as_py():
            row = _first_true(empty)
            what = "id" if column == id_column else "stratum"
            raise frame.error(f"the {what} is empty", row, column)
    _check_unique_ids(frame)
    sizes = _parse_sizes(frame) if size_column is not None else None
    return Frame(table, id_column, stratum_column, size_column, source, sizes)


def _check_unique_ids(frame: Frame) -> None:
    ids = frame.table.column(frame.id_column)
    # Fast path: integer ids in strictly increasing order are distinct integers,
    # hence distinct strings (equal strings would give equal integers).
    if _increasing_integers(ids):
        return
    order = pc.sort_indices(ids)
    ordered = pc.take(ids, order)
    if len(ordered) < 2:
        return
    same = pc.equal(ordered.slice(1), ordered.slice(0, len(ordered) - 1))
    if not pc.any(same).as_py():
        return
    position = _first_true(same)
    rows = sorted([int(order[position].as_py()), int(order[position + 1].as_py())])
    value = ordered[position].as_py()
    if frame.source is None:
        raise InputError(
            f"id {value!r} is not unique: rows {rows[0] + 1} and {rows[1] + 1}",
            column=frame.id_column,
        )
    raise InputError(
        f"id {value!r} is not unique: lines {rows[0] + 2} and {rows[1] + 2}",
        file=frame.source,
        line=rows[1] + 2,
        column=frame.id_column,
    )


def _increasing_integers(ids: pa.ChunkedArray) -> bool:
    """Whether the ids read as strictly increasing integers (hence are distinct)."""
    previous: int | None = None
    for chunk in ids.chunks:
        if len(chunk) == 0:
            continue
        try:
            values = np.asarray(pc.cast(chunk, pa.int64()).to_numpy(), dtype=np.int64)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return False
        if previous is not None and values[0] <= previous:
            return False
        if not bool(np.all(values[1:] > values[:-1])):
            return False
        previous = int(values[-1])
    return True


def _parse_sizes(frame: Frame) -> npt.NDArray[np.float64]:
    assert frame.size_column is not None
    text = frame.table.column(frame.size_column)
    try:
        sizes = _to_numpy_float64(pc.cast(text, pa.float64()))
        bad = ~np.isfinite(sizes) | (sizes < 0)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        values = text.to_pylist()
        bad = np.ones(len(values), dtype=bool)
        sizes = np.zeros(len(values))
        for row, value in enumerate(values):
            try:
                sizes[row] = float(value)
                bad[row] = False
            except ValueError:
                pass
        bad |= ~np.isfinite(sizes) | (sizes < 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        shown = text[row].as_py()
        raise frame.error(
            f"the size must be a finite number ≥ 0, got {shown!r}", row, frame.size_column
        )
    return sizes


def _first_true(mask: pa.ChunkedArray | pa.Array) -> int:
    flags = pc.cast(mask, pa.int8())
    return int(pc.index(flags, 1).as_py())


def _to_numpy_float64(column: pa.ChunkedArray) -> npt.NDArray[np.float64]:
    if column.num_chunks == 0:
        return np.zeros(0, dtype=np.float64)
    return np.asarray(column.combine_chunks().to_numpy(zero_copy_only=False), dtype=np.float64)


def _locate_csv_error(name: str, error: Exception) -> InputError:
    """Find the first malformed line with the (slow, exact) csv module."""
    try:
        with open(name, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                return InputError("the file is empty: a header line is needed", file=name, line=1)
            for record in reader:
                if len(record) != len(header):
                    return InputError(
                        f"expected {len(header)} fields, found {len(record)}",
                        file=name,
                        line=reader.line_num,
                    )
    except UnicodeDecodeError as decode_error:
        return InputError(f"not UTF-8 text ({decode_error.reason})", file=name)
    except csv.Error as csv_error:
        return InputError(f"malformed CSV ({csv_error})", file=name)
    return InputError(f"malformed CSV ({error})", file=name)
