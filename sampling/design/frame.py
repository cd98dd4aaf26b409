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
import mmap
import os
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from sampling.errors import N_, InputError, Problem

__all__ = [
    "FRAME_DIGEST_VERSION",
    "Frame",
    "arrow_array",
    "column_digest_lines",
    "digest_columns",
    "frame_from_rows",
    "numpy_view",
    "read_csv_text_table",
    "read_frame_csv",
    "take_rows",
    "text_column",
]

FRAME_DIGEST_VERSION = "minyi-frame-v1"

# Arrow parses blocks in parallel: 4 MiB blocks keep two cores busy with less
# per-block work than smaller ones (measured on the 10M-row benchmark frame).
_BLOCK_SIZE = 4 << 20

# Below this many rows the digest is not worth a thread of its own.
_BACKGROUND_DIGEST_ROWS = 100_000

_DICTIONARY_TEXT = pa.dictionary(pa.int32(), pa.string())

# Fixed-width types that numpy and Arrow lay out alike (see numpy_view, arrow_array).
_FIXED_WIDTH_TYPES: list[tuple[pa.DataType, np.dtype[Any]]] = [
    (pa.int8(), np.dtype(np.int8)),
    (pa.int16(), np.dtype(np.int16)),
    (pa.int32(), np.dtype(np.int32)),
    (pa.int64(), np.dtype(np.int64)),
    (pa.uint32(), np.dtype(np.uint32)),
    (pa.uint64(), np.dtype(np.uint64)),
    (pa.float64(), np.dtype(np.float64)),
]
_NUMPY_TYPES = {str(arrow_type): numpy_type for arrow_type, numpy_type in _FIXED_WIDTH_TYPES}
_ARROW_TYPES = {numpy_type: arrow_type for arrow_type, numpy_type in _FIXED_WIDTH_TYPES}

#: The message for a missing value, by the role of its column.
_MISSING = {
    "id": N_("row %(row)s: the id is missing"),
    "stratum": N_("row %(row)s: the stratum is missing"),
    "size": N_("row %(row)s: the size is missing"),
}
#: The message for a column missing from the header, by its role.
_NO_COLUMN = {
    "id": N_("no id column %(column)r in the header (columns: %(found)s)"),
    "stratum": N_("no stratum column %(column)r in the header (columns: %(found)s)"),
    "size": N_("no size column %(column)r in the header (columns: %(found)s)"),
}


@dataclass(frozen=True)
class Frame:
    """A validated sampling frame.

    Attributes
    ----------
    table
        All columns as Arrow text columns, in frame order.  A column may be
        dictionary-encoded text (the stratum column of a file is read that
        way, which groups rows cheaply); :func:`text_column` gives plain text.
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
    # The digest, computed beside validation for large frames; see sha256().
    _pending_digest: _BackgroundDigest | None = field(default=None, compare=False, repr=False)
    _memo: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def row_count(self) -> int:
        """Number of rows."""
        return int(self.table.num_rows)

    def error(
        self,
        problem: Problem,
        row: int | None = None,
        column: str | None = None,
    ) -> InputError:
        """Build an :class:`InputError` of ``problem`` at ``row`` (0-based) and ``column``."""
        if self.source is None:
            if row is None:
                return InputError(
                    problem.template,
                    code=problem.code,
                    parameters=problem.parameters,
                    column=column,
                )
            return InputError(
                N_("row %(row)s: %(problem)s"),
                code=problem.code,
                parameters={"row": row + 1, "problem": problem},
                column=column,
            )
        return InputError(
            problem.template,
            code=problem.code,
            parameters=problem.parameters,
            file=self.source,
            line=None if row is None else row + 2,
            column=column,
        )

    def roles(self) -> list[tuple[str, str]]:
        """Return ``(role, column name)`` pairs of the used columns, in digest order."""
        pairs = [("id", self.id_column), ("stratum", self.stratum_column)]
        if self.size_column is not None:
            pairs.append(("size", self.size_column))
        return pairs

    def sha256(self) -> str:
        """Canonical frame digest (``minyi-frame-v1``) of the used columns.

        Computed once; for a large frame it is started in a thread while the
        frame is validated, and this call waits for it.
        """
        digest = self._memo.get("sha256")
        if digest is None:
            if self._pending_digest is not None:
                digest = self._pending_digest.result()
            else:
                digest = digest_columns(self.role_columns())
            self._memo["sha256"] = digest
        return digest

    def role_columns(self) -> list[tuple[str, pa.ChunkedArray]]:
        """``(role, column)`` pairs of the used columns, in digest order."""
        return [(role, self.table.column(name)) for role, name in self.roles()]


class _BackgroundDigest:
    """The frame digest computed in a thread.

    hashlib releases the GIL for large buffers and Arrow releases it in its
    kernels, so the digest uses the second core while the caller validates
    and groups the frame.
    """

    def __init__(self, columns: list[tuple[str, pa.ChunkedArray]]) -> None:
        self._digest: str | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(columns,), name="frame-digest", daemon=True
        )
        self._thread.start()

    def _run(self, columns: list[tuple[str, pa.ChunkedArray]]) -> None:
        try:
            self._digest = digest_columns(columns)
        except BaseException as error:  # re-raised in the caller's thread by result()
            self._error = error

    def wait(self) -> None:
        """Wait for the thread to end."""
        self._thread.join()

    def result(self) -> str:
        """Wait for the digest and return it (or raise what the thread raised)."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._digest is not None
        return self._digest


def read_csv_text_table(
    path: str | os.PathLike[str],
    *,
    block_size: int = _BLOCK_SIZE,
    dictionary_columns: Collection[str] = (),
) -> pa.Table:
    """Read a CSV file with every column as text (no type inference).

    Empty fields stay empty strings (never null); a UTF-8 BOM is skipped;
    ``\\r\\n`` line endings are accepted.  A malformed file raises
    :class:`InputError` naming the file and, where it can be found, the line.
    Columns named in ``dictionary_columns`` are read as dictionary-encoded
    text (few distinct values, such as strata: the parallel parser encodes
    them, which is far cheaper than grouping plain text afterwards).
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as handle:
            first = handle.readline().decode("utf-8-sig").rstrip("\r\n")
        column_names = next(csv.reader([first])) if first else []
        if not column_names:
            raise InputError(
                N_("the file is empty: a header line is needed"),
                code="csv.empty_file",
                file=name,
                line=1,
            )
        if len(set(column_names)) != len(column_names):
            duplicate = next(c for c in column_names if column_names.count(c) > 1)
            raise InputError(
                N_("column %(column)r appears twice in the header"),
                code="csv.duplicate_column",
                parameters={"column": duplicate},
                file=name,
                line=1,
            )
        convert = pacsv.ConvertOptions(
            column_types={
                column: _DICTIONARY_TEXT if column in dictionary_columns else pa.string()
                for column in column_names
            },
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )
        if not os.path.isfile(name):
            raise InputError(
                N_("not a regular file (a pipe or a directory?)"), code="csv.not_a_file", file=name
            )
        # Without a quote character anywhere no value can hold a line break,
        # so the parser may split blocks at any newline and skip quote
        # handling: much faster, and exact.  Otherwise it must track quotes.
        quoted = _contains(name, b'"')
        # Parsing straight from the mapped file saves copying it into buffers.
        with pa.memory_map(name, "r") as source:
            table = pacsv.read_csv(
                source,
                read_options=pacsv.ReadOptions(block_size=block_size),
                parse_options=pacsv.ParseOptions(
                    newlines_in_values=quoted, quote_char='"' if quoted else False
                ),
                convert_options=convert,
                memory_pool=_memory_pool(),
            )
    except (pa.ArrowInvalid, UnicodeDecodeError) as error:
        raise _locate_csv_error(name, error) from None
    return table


def _contains(name: str, needle: bytes) -> bool:
    """Whether the file holds ``needle`` (a memchr-speed scan of a mapped file)."""
    with open(name, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            return False
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            return mapped.find(needle) >= 0


def _memory_pool() -> pa.MemoryPool:
    """The memory pool for frame data: jemalloc where Arrow has it.

    jemalloc keeps freed blocks for reuse where mimalloc (Arrow's default)
    hands them back to the system and faults them in again; on a 10M-row
    frame that roughly halved the draw's system time.
    """
    try:
        return pa.jemalloc_memory_pool()
    except NotImplementedError:  # pragma: no cover - Arrow built without jemalloc
        return pa.default_memory_pool()


def read_frame_csv(
    path: str | os.PathLike[str],
    *,
    id_column: str,
    stratum_column: str,
    size_column: str | None = None,
    block_size: int = _BLOCK_SIZE,
) -> Frame:
    """Read and validate a frame CSV file.

    Parameters
    ----------
    path
        The CSV file (UTF-8, header line first).
    id_column, stratum_column, size_column
        Column names for the roles ``id``, ``stratum`` and (PPS) ``size``.
    block_size
        Bytes per parsed block (each block becomes one Arrow chunk).

    Raises
    ------
    InputError
        A column is missing, an id or stratum is empty, an id is repeated
        (both lines are named) or a size is not a number ≥ 0.
    """
    name = os.fspath(path)
    # The stratum column (if it plays no other role) is read dictionary-encoded.
    encoded = [] if stratum_column in (id_column, size_column) else [stratum_column]
    table = read_csv_text_table(name, block_size=block_size, dictionary_columns=encoded)
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
        raise InputError(
            N_("ids, strata and sizes must have the same length"), code="frame.lengths_differ"
        )
    for role, column in columns.items():
        if column.null_count:
            row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
            raise InputError(
                _MISSING[role], code="frame.missing_value", parameters={"row": row + 1}, column=role
            )
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
        # One buffer for every chunk's lengths: fresh memory costs page faults.
        buffer = np.empty(max((len(chunk) for chunk in chunks), default=0), dtype="<u8")
        for chunk in chunks:
            offsets, data = _string_buffers(_plain_text(chunk))
            # hashlib releases the GIL for large buffers; slices are zero-copy.
            values.update(data[int(offsets[0]) : int(offsets[-1])])
            widths = buffer[: len(chunk)]
            np.subtract(offsets[1:], offsets[:-1], out=widths, casting="unsafe")
            lengths.update(widths.data)
            rows += len(chunk)
        lines.append(f"{role}:{rows}:{values.hexdigest()}:{lengths.hexdigest()}")
    return lines


def text_column(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """The column as plain text (a dictionary-encoded column is decoded)."""
    if pa.types.is_dictionary(column.type):
        return pc.cast(column, column.type.value_type, memory_pool=_memory_pool())
    return column


def numpy_view(column: pa.ChunkedArray | pa.Array) -> npt.NDArray[Any]:
    """The values of a fixed-width numeric column without nulls as a numpy array.

    Zero-copy for a single chunk.  Arrow's own ``to_numpy`` (and ``pa.array``
    of a numpy array) import pandas when it is installed, which alone costs
    about 0.3 s of a command's start; these two bridges never do.
    """
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    dtype = _NUMPY_TYPES.get(str(column.type))
    if dtype is None:
        raise TypeError(f"no numpy view of a {column.type} column")
    parts = []
    for chunk in chunks:
        if chunk.null_count:
            raise ValueError("a column with missing values has no numpy view")
        if len(chunk):
            parts.append(
                np.frombuffer(
                    chunk.buffers()[1],
                    dtype=dtype,
                    count=len(chunk),
                    offset=chunk.offset * dtype.itemsize,
                )
            )
    if not parts:
        return np.zeros(0, dtype=dtype)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def arrow_array(values: npt.NDArray[Any]) -> pa.Array:
    """A numpy array of a fixed-width numeric type as an Arrow array (zero-copy)."""
    contiguous = np.ascontiguousarray(values)
    arrow_type = _ARROW_TYPES.get(contiguous.dtype)
    if arrow_type is None:
        raise TypeError(f"no Arrow array of a {contiguous.dtype} array")
    return pa.Array.from_buffers(arrow_type, len(contiguous), [None, pa.py_buffer(contiguous)])


def take_rows(table: pa.Table, rows: npt.NDArray[np.int64]) -> pa.Table:
    """Rows ``rows`` (0-based, any order) of ``table``, every column as plain text.

    Each chunk gives only the rows it holds, which for 100,000 rows of a
    10M-row, 226-chunk frame is somewhat faster than Arrow's table take
    (0.06 s against 0.08–0.11 s) and decodes dictionary columns on the way.
    """
    rows = np.asarray(rows, dtype=np.int64)
    if rows.size == 0:
        return pa.table(
            [text_column(column).slice(0, 0) for column in table.columns], names=table.column_names
        )
    if rows.min() < 0 or rows.max() >= table.num_rows:
        raise IndexError("row out of range")
    order = np.argsort(rows, kind="stable")
    ascending = rows[order]
    columns = []
    for column in table.columns:
        ends = np.cumsum([len(chunk) for chunk in column.chunks], dtype=np.int64)
        # Chunk number of every wanted row (rows are ascending, so are they).
        owners = np.searchsorted(ends, ascending, side="right")
        bounds = np.searchsorted(owners, np.arange(len(ends) + 1))
        pieces = []
        for number, chunk in enumerate(column.chunks):
            start, stop = int(bounds[number]), int(bounds[number + 1])
            if start == stop:
                continue
            local = ascending[start:stop] - (int(ends[number]) - len(chunk))
            pieces.append(text_column(chunk.take(arrow_array(local))))
        gathered = pa.concat_arrays(pieces)
        # Back from ascending order to the order asked for.
        columns.append(gathered.take(arrow_array(np.argsort(order, kind="stable"))))
    return pa.table(columns, names=table.column_names)


def _plain_text(chunk: pa.Array) -> pa.Array:
    decoded = text_column(chunk)
    assert isinstance(decoded, pa.Array)
    return decoded


def _string_buffers(chunk: pa.Array) -> tuple[npt.NDArray[np.signedinteger[Any]], memoryview]:
    """Zero-copy views of a text chunk's offsets (int32 or int64) and data."""
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
    return offsets, data


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
                _NO_COLUMN[role],
                code="frame.no_column",
                parameters={"column": column, "found": found},
                file=source,
                line=1 if source is not None else None,
                column=column,
            )
    if table.num_rows == 0:
        raise InputError(
            N_("the frame has no rows"),
            code="frame.no_rows",
            file=source,
            line=2 if source else None,
        )
    pending = None
    if table.num_rows >= _BACKGROUND_DIGEST_ROWS:
        pending = _BackgroundDigest(frame.role_columns())
    try:
        for column in (id_column, stratum_column):
            row = _first_empty_row(table.column(column))
            if row is not None:
                template = (
                    N_("the id is empty") if column == id_column else N_("the stratum is empty")
                )
                raise frame.error(Problem("frame.empty_value", template), row, column)
        _check_unique_ids(frame)
        sizes = _parse_sizes(frame) if size_column is not None else None
    except BaseException:
        if pending is not None:
            pending.wait()  # a failed frame leaves nothing running
        raise
    return Frame(table, id_column, stratum_column, size_column, source, sizes, pending)


def _first_empty_row(column: pa.ChunkedArray) -> int | None:
    """0-based row of the first empty text value, or ``None``."""
    before = 0
    for chunk in column.chunks:
        if pa.types.is_dictionary(chunk.type):
            offsets = _string_buffers(chunk.dictionary)[0]
            empty_codes = np.flatnonzero(offsets[1:] == offsets[:-1])
            empty = np.isin(numpy_view(chunk.indices), empty_codes) if empty_codes.size else None
        else:
            offsets = _string_buffers(chunk)[0]
            empty = offsets[1:] == offsets[:-1]
        if empty is not None and empty.any():
            return before + int(np.argmax(empty))
        before += len(chunk)
    return None


def _check_unique_ids(frame: Frame) -> None:
    """Raise :class:`InputError` naming the first repeated id and both its rows.

    Ids that read as 64-bit integers (the usual case: numbers, phone numbers)
    are checked as integers: equal texts give equal integers, so distinct
    integers prove distinct ids, in one pass when they are increasing and by a
    fast numeric sort otherwise.  Only rows whose integers repeat ("7" and
    "07") — or all rows when the ids are not integers — are compared as text.
    """
    ids = text_column(frame.table.column(frame.id_column))
    if _increasing_integers(ids):
        return
    integers = _as_integers(ids)
    suspects: npt.NDArray[np.int64] | None = None
    if integers is not None:
        numbers = np.asarray(numpy_view(integers), dtype=np.int64)
        ordered = np.sort(numbers)
        repeated = ordered[1:] == ordered[:-1]
        if not repeated.any():
            return
        suspects = np.flatnonzero(np.isin(numbers, ordered[1:][repeated])).astype(np.int64)
    candidates = ids if suspects is None else ids.take(arrow_array(suspects))
    order = pc.sort_indices(candidates)  # stable: equal ids keep frame order
    ordered_ids = pc.take(candidates, order)
    if len(ordered_ids) < 2:
        return
    same = pc.equal(ordered_ids.slice(1), ordered_ids.slice(0, len(ordered_ids) - 1))
    if not pc.any(same).as_py():
        return
    position = _first_true(same)
    pair = [int(order[position].as_py()), int(order[position + 1].as_py())]
    if suspects is not None:
        pair = [int(suspects[index]) for index in pair]
    rows = sorted(pair)
    value = ordered_ids[position].as_py()
    if frame.source is None:
        raise InputError(
            N_("id %(id)r is not unique: rows %(first)s and %(second)s"),
            code="frame.duplicate_id",
            parameters={"id": value, "first": rows[0] + 1, "second": rows[1] + 1},
            column=frame.id_column,
        )
    raise InputError(
        N_("id %(id)r is not unique: lines %(first)s and %(second)s"),
        code="frame.duplicate_id",
        parameters={"id": value, "first": rows[0] + 2, "second": rows[1] + 2},
        file=frame.source,
        line=rows[1] + 2,
        column=frame.id_column,
    )


def _as_integers(ids: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | None:
    """The ids as 64-bit integers, or ``None`` when one does not read as one."""
    try:
        integers = pc.cast(ids, pa.int64(), memory_pool=_memory_pool())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return integers if isinstance(integers, pa.ChunkedArray) else pa.chunked_array([integers])


def _increasing_integers(ids: pa.ChunkedArray | pa.Array) -> bool:
    """Whether the ids read as strictly increasing 64-bit integers (hence are distinct).

    Chunk by chunk, so the integers never exist all at once.
    """
    previous: int | None = None
    for chunk in ids.chunks if isinstance(ids, pa.ChunkedArray) else [ids]:
        if not len(chunk):
            continue
        try:
            values = numpy_view(pc.cast(chunk, pa.int64(), memory_pool=_memory_pool()))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return False
        if previous is not None and int(values[0]) <= previous:
            return False
        if not bool(np.all(values[1:] > values[:-1])):
            return False
        previous = int(values[-1])
    return True


def _parse_sizes(frame: Frame) -> npt.NDArray[np.float64]:
    assert frame.size_column is not None
    text = frame.table.column(frame.size_column)
    try:
        sizes = np.asarray(numpy_view(pc.cast(text, pa.float64())), dtype=np.float64)
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
        problem = Problem(
            "frame.invalid_size",
            N_("the size must be a finite number ≥ 0, got %(value)r"),
            {"value": shown},
        )
        raise frame.error(problem, row, frame.size_column)
    return sizes


def _first_true(mask: pa.ChunkedArray | pa.Array) -> int:
    flags = pc.cast(mask, pa.int8())
    return int(pc.index(flags, 1).as_py())


def _locate_csv_error(name: str, error: Exception) -> InputError:
    """Find the first malformed line with the (slow, exact) csv module."""
    try:
        with open(name, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                return InputError(
                    N_("the file is empty: a header line is needed"),
                    code="csv.empty_file",
                    file=name,
                    line=1,
                )
            for record in reader:
                if len(record) != len(header):
                    return InputError(
                        N_("expected %(expected)s fields, found %(found)s"),
                        code="csv.field_count",
                        parameters={"expected": len(header), "found": len(record)},
                        file=name,
                        line=reader.line_num,
                    )
    except UnicodeDecodeError as decode_error:
        return InputError(
            N_("not UTF-8 text (%(reason)s)"),
            code="csv.not_utf8",
            parameters={"reason": decode_error.reason},
            file=name,
        )
    except csv.Error as csv_error:
        return InputError(
            N_("malformed CSV (%(error)s)"),
            code="csv.malformed",
            parameters={"error": str(csv_error)},
            file=name,
        )
    return InputError(
        N_("malformed CSV (%(error)s)"),
        code="csv.malformed",
        parameters={"error": str(error)},
        file=name,
    )
