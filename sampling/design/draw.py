"""Verifiable stratified draws (可验证的随机抽样) and their protocol.

A draw is a pure function of four things — the canonical frame digest, the
design (selection method, per-stratum sample sizes, reserve batches), the seed
(any text, e.g. lottery numbers announced after the frame digest was
published) and the algorithm version — so anyone holding the frame can re-run
it and obtain the identical sample (DESIGN.md §5).

Random streams: the draw key is
``SHA-256("minyi-draw-1" 0x00 frame_sha256 0x00 design_json 0x00 seed)``; each
stratum's stream is PCG64 seeded through ``SeedSequence`` with the integer
value of ``SHA-256(draw_key 0x00 "stratum" 0x00 stratum_name)``.  Streams are
keyed by the stratum's name, so a stratum's sample depends only on its own
rows and not on the order in which strata are processed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from sampling.design.allocation import Allocation, AllocationMethod, StratumSpec, allocate
from sampling.design.frame import (
    Frame,
    arrow_array,
    digest_columns,
    frame_from_rows,
    numpy_view,
    read_csv_text_table,
    read_frame_csv,
    take_rows,
)
from sampling.design.selection import SelectionMethod, select_stratum
from sampling.errors import N_, DesignError, InputError, Problem, VerificationError

__all__ = [
    "ALGORITHM_VERSION",
    "PROTOCOL_FORMAT",
    "SAMPLE_COLUMNS",
    "DrawDesign",
    "DrawResult",
    "Protocol",
    "StrataIndex",
    "allocate_for_frame",
    "draw",
    "draw_stratified",
    "group_rows",
    "index_strata",
    "sample_table",
    "stratum_codes",
    "verify_sample",
    "write_atomically",
    "write_sample_csv",
]

ALGORITHM_VERSION = "minyi-draw-1"
PROTOCOL_FORMAT = "minyi-draw-protocol-1"
SAMPLE_COLUMNS = ("inclusion_probability", "design_weight", "replicate")


@dataclass(frozen=True)
class DrawDesign:
    """What is drawn: the inputs of the draw other than frame and seed.

    Attributes
    ----------
    allocation
        ``(stratum, n_h)`` pairs, sorted by stratum name.
    selection
        The selection method within strata.
    reserve_batches
        Number ``K`` of reserve batches per stratum.
    """

    allocation: tuple[tuple[str, int], ...]
    selection: SelectionMethod = SelectionMethod.SRSWOR
    reserve_batches: int = 0

    @classmethod
    def build(
        cls,
        allocation: Mapping[str, int] | Allocation,
        selection: SelectionMethod | str = SelectionMethod.SRSWOR,
        reserve_batches: int = 0,
    ) -> DrawDesign:
        """Validate and normalise the design's parts."""
        sizes = allocation.as_mapping() if isinstance(allocation, Allocation) else allocation
        pairs = []
        for name, size in sizes.items():
            if isinstance(size, bool) or int(size) != size or size < 0:
                raise InputError(
                    N_("stratum %(stratum)r: n must be a whole number ≥ 0, got %(n)s"),
                    code="draw.invalid_n",
                    parameters={"stratum": name, "n": size},
                    column="n",
                )
            pairs.append((str(name), int(size)))
        try:
            method = SelectionMethod(selection)
        except ValueError:
            choices = ", ".join(m.value for m in SelectionMethod)
            raise InputError(
                N_("unknown selection %(selection)r; use one of %(choices)s"),
                code="draw.unknown_selection",
                parameters={"selection": selection, "choices": choices},
                column="selection",
            ) from None
        if isinstance(reserve_batches, bool) or reserve_batches < 0:
            raise InputError(
                N_("must be a whole number ≥ 0, got %(value)s"),
                code="draw.invalid_reserve",
                parameters={"value": reserve_batches},
                column="reserve",
            )
        return cls(tuple(sorted(pairs)), method, int(reserve_batches))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (also the protocol's ``design``)."""
        return {
            "selection": self.selection.value,
            "reserve_batches": self.reserve_batches,
            "allocation": dict(self.allocation),
        }

    def canonical_json(self) -> str:
        """Canonical JSON: sorted keys, no spaces, UTF-8 characters kept."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    @property
    def sample_size(self) -> int:
        """Main sample size Σ n_h."""
        return sum(size for _, size in self.allocation)


@dataclass(frozen=True)
class DrawResult:
    """A drawn sample: one entry per selected frame row, main sample first.

    Rows are ordered by replicate, then by frame order.

    Attributes
    ----------
    rows
        0-based frame row positions.
    ids, strata
        The rows' id and stratum text.
    replicate
        0 for the main sample, ``1..K`` for reserve batches.
    inclusion_probability
        Main-design inclusion probability π of each row.
    design_weight
        ``1 / π``.
    frame_sha256, sample_sha256
        Canonical digests of the frame and of the sample (roles ``id``,
        ``stratum``, ``replicate`` in the frame digest form).
    design, seed, algorithm_version
        The remaining inputs of the draw.
    """

    rows: npt.NDArray[np.int64]
    ids: pa.Array
    strata: pa.Array
    replicate: npt.NDArray[np.int16]
    inclusion_probability: npt.NDArray[np.float64]
    design_weight: npt.NDArray[np.float64]
    frame_sha256: str
    sample_sha256: str
    design: DrawDesign
    seed: str
    algorithm_version: str = ALGORITHM_VERSION


@dataclass(frozen=True)
class StrataIndex:
    """Rows grouped by stratum.

    Attributes
    ----------
    names
        Stratum names, in order of first appearance.
    counts
        ``N_h`` per name.
    members
        Frame row positions grouped by stratum (in ``names`` order), each group
        in frame order.
    starts
        Start of each group in ``members``.
    """

    names: tuple[str, ...]
    counts: npt.NDArray[np.int64]
    members: npt.NDArray[np.int64]
    starts: npt.NDArray[np.int64]

    def rows_of(self, index: int) -> npt.NDArray[np.int64]:
        """Frame rows of stratum number ``index``."""
        start = int(self.starts[index])
        return self.members[start : start + int(self.counts[index])]

    def populations(self) -> dict[str, int]:
        """``{stratum: N_h}``."""
        return {name: int(count) for name, count in zip(self.names, self.counts, strict=True)}


@dataclass(frozen=True)
class Protocol:
    """The draw protocol (抽样记录): everything needed to re-run a draw.

    ``created`` and ``seed_provenance`` are informational; they never enter the
    draw.  ``seed_provenance`` says where the seed came from (随机数种子来源): the
    named public source, the date of its event, and when the frame was locked,
    so that anyone can check the seed was announced after the frame's hash.
    """

    frame_sha256: str
    frame_rows: int
    id_column: str
    stratum_column: str
    size_column: str | None
    design: DrawDesign
    seed: str
    sample_rows: int
    sample_sha256: str
    algorithm_version: str = ALGORITHM_VERSION
    allocation_request: Mapping[str, Any] | None = None
    frame_file: str | None = None
    created: str | None = None
    seed_provenance: Mapping[str, str] | None = None
    format: str = field(default=PROTOCOL_FORMAT)

    @classmethod
    def from_result(
        cls,
        result: DrawResult,
        frame: Frame,
        *,
        allocation_request: Mapping[str, Any] | None = None,
        created: dt.datetime | None = None,
        seed_provenance: Mapping[str, str] | None = None,
    ) -> Protocol:
        """Protocol of ``result`` drawn from ``frame``."""
        moment = created or dt.datetime.now(dt.UTC)
        return cls(
            frame_sha256=result.frame_sha256,
            frame_rows=frame.row_count,
            id_column=frame.id_column,
            stratum_column=frame.stratum_column,
            size_column=frame.size_column,
            design=result.design,
            seed=result.seed,
            sample_rows=int(result.rows.size),
            sample_sha256=result.sample_sha256,
            algorithm_version=result.algorithm_version,
            allocation_request=dict(allocation_request) if allocation_request else None,
            frame_file=os.path.basename(frame.source) if frame.source else None,
            created=moment.isoformat(timespec="seconds"),
            seed_provenance=dict(seed_provenance) if seed_provenance else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``seed_provenance`` only where recorded)."""
        data: dict[str, Any] = {
            "format": self.format,
            "algorithm_version": self.algorithm_version,
            "frame": {
                "sha256": self.frame_sha256,
                "rows": self.frame_rows,
                "id_column": self.id_column,
                "stratum_column": self.stratum_column,
                "size_column": self.size_column,
                "file": self.frame_file,
            },
            "design": self.design.to_dict(),
            "allocation_request": self.allocation_request,
            "seed": self.seed,
            "sample": {"rows": self.sample_rows, "sha256": self.sample_sha256},
            "created": self.created,
        }
        if self.seed_provenance is not None:
            data["seed_provenance"] = dict(self.seed_provenance)
        return data

    def to_json(self) -> str:
        """Protocol as pretty-printed JSON text."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, *, source: str | None = None) -> Protocol:
        """Parse a protocol; a missing or wrong field raises :class:`InputError`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise InputError(
                N_("not JSON (%(error)s)"),
                code="protocol.not_json",
                parameters={"error": error.msg},
                file=source,
                line=error.lineno,
            ) from None
        if not isinstance(data, dict):
            raise InputError(
                N_("a protocol is a JSON object"), code="protocol.not_an_object", file=source
            )

        def need(container: Any, key: str, kind: type | tuple[type, ...], path: str) -> Any:
            if not isinstance(container, dict) or key not in container:
                raise InputError(
                    N_("missing field"), code="protocol.missing_field", file=source, column=path
                )
            value = container[key]
            if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
                raise InputError(
                    N_("wrong type %(type)s"),
                    code="protocol.wrong_type",
                    parameters={"type": type(value).__name__},
                    file=source,
                    column=path,
                )
            return value

        if need(data, "format", str, "format") != PROTOCOL_FORMAT:
            raise InputError(
                N_("unknown format (expected %(expected)s)"),
                code="protocol.unknown_format",
                parameters={"expected": PROTOCOL_FORMAT},
                file=source,
                column="format",
            )
        frame = need(data, "frame", dict, "frame")
        design = need(data, "design", dict, "design")
        sample = need(data, "sample", dict, "sample")
        size_column = frame.get("size_column")
        allocation = need(design, "allocation", dict, "design.allocation")
        try:
            parsed_design = DrawDesign.build(
                allocation,
                need(design, "selection", str, "design.selection"),
                need(design, "reserve_batches", int, "design.reserve_batches"),
            )
        except InputError as error:
            raise InputError(
                error.template,
                code=error.code,
                parameters=error.parameters,
                file=source,
                column="design",
            ) from None
        request = data.get("allocation_request")
        provenance = data.get("seed_provenance")
        if provenance is not None and not (
            isinstance(provenance, dict)
            and all(isinstance(value, str) for value in provenance.values())
        ):
            raise InputError(
                N_("an object of texts expected"),
                code="protocol.invalid_provenance",
                file=source,
                column="seed_provenance",
            )
        return cls(
            frame_sha256=need(frame, "sha256", str, "frame.sha256"),
            frame_rows=need(frame, "rows", int, "frame.rows"),
            id_column=need(frame, "id_column", str, "frame.id_column"),
            stratum_column=need(frame, "stratum_column", str, "frame.stratum_column"),
            size_column=size_column if isinstance(size_column, str) else None,
            design=parsed_design,
            seed=need(data, "seed", str, "seed"),
            sample_rows=need(sample, "rows", int, "sample.rows"),
            sample_sha256=need(sample, "sha256", str, "sample.sha256"),
            algorithm_version=need(data, "algorithm_version", str, "algorithm_version"),
            allocation_request=request if isinstance(request, dict) else None,
            frame_file=frame.get("file") if isinstance(frame.get("file"), str) else None,
            created=data.get("created") if isinstance(data.get("created"), str) else None,
            seed_provenance=provenance,
        )


# Above this many (group, block) slices to join, group_rows sorts 64-bit keys.
_MAXIMUM_BLOCK_PIECES = 20_000


def index_strata(frame: Frame) -> StrataIndex:
    """Group the frame's rows by stratum, each group in frame order.

    The stratum codes come from the dictionary the file reader built (or
    from dictionary-encoding the text); the rows are then grouped by sorting
    packed keys ``code · 2^b + row`` (see :func:`group_rows`).
    """
    names, codes = stratum_codes(frame.table.column(frame.stratum_column))
    counts = np.bincount(codes, minlength=len(names)).astype(np.int64)
    members = group_rows(codes, len(names))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    return StrataIndex(names, counts, members, starts)


def stratum_codes(
    column: pa.ChunkedArray,
) -> tuple[tuple[str, ...], npt.NDArray[np.int32]]:
    """Distinct values (in order of first appearance) and each row's number among them."""
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    # One dictionary for all chunks: the first chunk's values, then new ones in order.
    chunks = [chunk for chunk in column.unify_dictionaries().chunks if len(chunk)]
    if not chunks:
        return (), np.zeros(0, dtype=np.int32)
    names = tuple(str(name) for name in chunks[0].dictionary.to_pylist())
    parts = [numpy_view(chunk.indices).astype(np.int32, copy=False) for chunk in chunks]
    return names, np.concatenate(parts)


def group_rows(codes: npt.NDArray[np.integer[Any]], group_count: int) -> npt.NDArray[np.int64]:
    """Row numbers ordered by group code, each group in row order (a stable grouping).

    Equivalent to ``argsort(codes, kind="stable")`` but several times faster:
    the code and the row number are packed into one unsigned integer key
    (code in the high bits) and the keys, being distinct, are sorted with
    numpy's vectorised unstable sort.  32-bit keys are used where code and row
    fit (a long frame is sorted in blocks of ``2^b`` rows whose groups are then
    joined block by block), 64-bit keys otherwise.
    """
    code_bits = max(1, (group_count - 1).bit_length())
    row_bits = 32 - code_bits
    block = 1 << max(row_bits, 0)
    blocks = -(-codes.size // block)
    if row_bits >= 16 and blocks <= 1:
        return _sorted_block(codes, row_bits).astype(np.int64)
    if row_bits >= 16 and blocks * group_count <= _MAXIMUM_BLOCK_PIECES:
        # Each group's rows from block k go after its rows from blocks < k;
        # blocks are sorted one at a time into one reused buffer, and their
        # pieces copied to their places (fresh memory costs page faults).
        counts = np.stack(
            [
                np.bincount(codes[start : start + block], minlength=group_count)
                for start in range(0, codes.size, block)
            ]
        ).astype(np.int64)
        places = np.cumsum(counts.T.ravel()) - counts.T.ravel()  # (group, block) order
        members = np.empty(codes.size, dtype=np.int64)
        keys = np.empty(block, dtype=np.uint32)
        row_numbers = np.arange(block, dtype=np.uint32)
        for number, start in enumerate(range(0, codes.size, block)):
            part = codes[start : start + block]
            rows = _sorted_block(part, row_bits, keys[: part.size], row_numbers[: part.size])
            low = 0
            for group in range(group_count):
                high = low + int(counts[number, group])
                place = int(places[group * blocks + number])
                np.add(rows[low:high], start, out=members[place : place + high - low])
                low = high
        return members
    if codes.size >= 1 << 32:  # pragma: no cover - beyond any frame held in memory
        return np.argsort(codes, kind="stable").astype(np.int64)
    keys = codes.astype(np.uint64)
    keys <<= np.uint64(32)
    keys |= np.arange(codes.size, dtype=np.uint64)
    keys.sort()
    keys &= np.uint64(0xFFFFFFFF)
    return keys.astype(np.int64)


def _sorted_block(
    codes: npt.NDArray[np.integer[Any]],
    row_bits: int,
    keys: npt.NDArray[np.uint32] | None = None,
    row_numbers: npt.NDArray[np.uint32] | None = None,
) -> npt.NDArray[np.uint32]:
    """Row numbers within the block ordered by code (and by row within a code).

    Sorting the distinct keys ``code · 2^b + row`` needs no stable sort.
    ``keys`` (output) and ``row_numbers`` (``0, 1, …``) may be given to reuse memory.
    """
    if keys is None:
        keys = np.empty(codes.size, dtype=np.uint32)
    if row_numbers is None:
        row_numbers = np.arange(codes.size, dtype=np.uint32)
    np.copyto(keys, codes, casting="unsafe")  # codes are ≥ 0 and below 2^(32 − b)
    keys <<= np.uint32(row_bits)
    keys |= row_numbers
    keys.sort()
    keys &= np.uint32((1 << row_bits) - 1)
    return keys


def allocate_for_frame(
    frame: Frame,
    total: int,
    method: AllocationMethod | str = AllocationMethod.PROPORTIONAL,
    *,
    minimum: int = 0,
    strata_index: StrataIndex | None = None,
) -> Allocation:
    """Allocate ``total`` over the frame's strata (their ``N_h`` counted from it).

    Only methods that need nothing but ``N_h`` (proportional, equal) can be
    used; Neyman and cost-optimal need ``S_h`` and ``c_h`` from a strata file.
    """
    index = strata_index or index_strata(frame)
    # Sorted by name so that the allocation (its largest-remainder ties
    # included) does not depend on the order of the frame's rows.
    specs = sorted(
        (
            StratumSpec(name, int(count))
            for name, count in zip(index.names, index.counts, strict=True)
        ),
        key=lambda spec: spec.name,
    )
    return allocate(specs, total, method, minimum=minimum)


def draw(
    frame: Frame,
    design: DrawDesign,
    seed: str,
    *,
    strata_index: StrataIndex | None = None,
    frame_sha256: str | None = None,
) -> DrawResult:
    """Draw the sample ``design`` prescribes from ``frame`` with ``seed``.

    Parameters
    ----------
    frame
        A validated frame.
    design
        Sample sizes per stratum, the selection method and reserve batches.
    seed
        Any text; it is used byte for byte (UTF-8).
    strata_index, frame_sha256
        Precomputed grouping and digest of ``frame`` (to avoid doing it twice).

    Raises
    ------
    DesignError
        The allocation names a stratum with no rows, leaves a frame stratum
        out, or asks for more than a stratum holds.
    """
    if not isinstance(seed, str):
        raise InputError(N_("the seed must be text"), code="draw.seed_not_text", column="seed")
    if design.selection is SelectionMethod.PPS and frame.sizes is None:
        raise InputError(
            N_("PPS selection needs a size column"), code="draw.pps_without_size", column="size"
        )
    index = strata_index or index_strata(frame)
    digest = frame_sha256 or frame.sha256()
    sizes = dict(design.allocation)
    populations = index.populations()
    for name, size in design.allocation:
        if name not in populations and size > 0:
            raise DesignError(
                N_("stratum %(stratum)r of the allocation has no rows in the frame"),
                code="draw.unknown_stratum",
                parameters={"stratum": name},
            )
    missing = [name for name in index.names if name not in sizes]
    if missing:
        raise DesignError(
            N_(
                "stratum %(stratum)r of the frame (%(rows)s rows) has no sample size in the "
                "allocation"
            ),
            code="draw.stratum_not_allocated",
            parameters={"stratum": missing[0], "rows": populations[missing[0]]},
        )
    key = hashlib.sha256(
        b"\0".join(
            [
                ALGORITHM_VERSION.encode(),
                digest.encode(),
                design.canonical_json().encode(),
                seed.encode(),
            ]
        )
    ).digest()
    parts_rows: list[npt.NDArray[np.int64]] = []
    parts_replicate: list[npt.NDArray[np.int16]] = []
    parts_probability: list[npt.NDArray[np.float64]] = []
    for number, name in enumerate(index.names):
        size = sizes[name]
        members = index.rows_of(number)
        if size > members.size:
            raise DesignError(
                N_("stratum %(stratum)r: n = %(n)s exceeds its population N = %(population)s"),
                code="draw.n_exceeds_population",
                parameters={"stratum": name, "n": size, "population": members.size},
            )
        stream = np.random.Generator(np.random.PCG64(_stratum_seed(key, name)))
        stratum_sizes = None if frame.sizes is None else frame.sizes[members]
        try:
            selection = select_stratum(
                design.selection,
                int(members.size),
                size,
                stream,
                reserve_batches=design.reserve_batches,
                sizes=stratum_sizes,
            )
        except DesignError as error:
            raise DesignError(
                N_("stratum %(stratum)r: %(error)s"),
                code=error.code,
                parameters={"stratum": name, "error": error},
            ) from None
        parts_rows.append(members[selection.positions])
        parts_replicate.append(selection.replicate)
        parts_probability.append(selection.inclusion_probability)
    rows = np.concatenate(parts_rows) if parts_rows else np.zeros(0, dtype=np.int64)
    replicate = np.concatenate(parts_replicate) if parts_replicate else np.zeros(0, np.int16)
    probability = np.concatenate(parts_probability) if parts_probability else np.zeros(0)
    order = np.lexsort((rows, replicate))
    rows, replicate, probability = rows[order], replicate[order], probability[order]
    picked = take_rows(frame.table.select([frame.id_column, frame.stratum_column]), rows)
    ids = picked.column(0).combine_chunks()
    strata = picked.column(1).combine_chunks()
    sample_digest = digest_columns(
        [("id", ids), ("stratum", strata), ("replicate", arrow_array(replicate).cast(pa.string()))]
    )
    return DrawResult(
        rows=rows,
        ids=ids,
        strata=strata,
        replicate=replicate,
        inclusion_probability=probability,
        design_weight=1.0 / probability,
        frame_sha256=digest,
        sample_sha256=sample_digest,
        design=design,
        seed=seed,
    )


def draw_stratified(
    frame_ids: Sequence[str],
    strata: Sequence[str],
    allocation: Mapping[str, int] | Allocation,
    seed: str,
    *,
    reserve_batches: int = 0,
    selection: SelectionMethod | str = SelectionMethod.SRSWOR,
    sizes: Sequence[str] | None = None,
) -> DrawResult:
    """Draw from a frame held in memory (the web app's entry point).

    ``frame_ids``, ``strata`` and ``sizes`` (text, PPS only) are parallel
    sequences in frame order; see :func:`draw`.
    """
    frame = frame_from_rows(frame_ids, strata, sizes)
    design = DrawDesign.build(allocation, selection, reserve_batches)
    return draw(frame, design, seed)


def sample_table(frame: Frame, result: DrawResult) -> pa.Table:
    """The sample as a table: all frame columns plus the three sample columns."""
    clash = [name for name in SAMPLE_COLUMNS if name in frame.table.column_names]
    if clash:
        raise InputError(
            N_("the frame already has a column %(column)r, which the sample adds"),
            code="draw.column_clash",
            parameters={"column": clash[0]},
            file=frame.source,
            line=1 if frame.source else None,
            column=clash[0],
        )
    table = take_rows(frame.table, result.rows)
    table = table.append_column(
        "inclusion_probability", arrow_array(result.inclusion_probability).cast(pa.string())
    )
    table = table.append_column(
        "design_weight", arrow_array(result.design_weight).cast(pa.string())
    )
    return table.append_column("replicate", arrow_array(result.replicate).cast(pa.string()))


def write_sample_csv(table: pa.Table, handle: IO[bytes]) -> None:
    """Write a text table as CSV: LF endings, quotes only where RFC 4180 needs them."""
    handle.write(_csv_line(table.column_names).encode())
    special = any(
        pc.any(pc.match_substring_regex(column, '[,"\r\n]')).as_py()
        for column in table.columns
        if len(column)
    )
    if not special:
        pacsv.write_csv(
            table,
            handle,
            write_options=pacsv.WriteOptions(include_header=False, quoting_style="none"),
        )
        return
    for record in zip(*(column.to_pylist() for column in table.columns), strict=True):
        handle.write(_csv_line(record).encode())


def write_atomically(
    path: str, content: bytes | None = None, table: pa.Table | None = None
) -> None:
    """Write ``content`` or ``table`` (as CSV) to ``path`` via a temporary file and rename.

    A failure leaves no file behind, so there is never a partial output.
    """
    directory = os.path.dirname(os.path.abspath(path))
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            if content is not None:
                handle.write(content)
            if table is not None:
                write_sample_csv(table, handle)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def verify_sample(
    protocol: Protocol,
    frame: Frame,
    sample: pa.Table,
    *,
    sample_source: str | None = None,
    limit: int = 10,
) -> DrawResult:
    """Check that ``sample`` is exactly what ``protocol`` draws from ``frame``.

    Raises
    ------
    VerificationError
        The frame digest differs from the protocol's, the re-run does not
        reproduce the protocol's sample digest, or sample rows differ (the
        first ``limit`` differences are listed with their lines).
    """
    if protocol.algorithm_version != ALGORITHM_VERSION:
        raise VerificationError(
            N_("the protocol uses algorithm %(protocol)r; this is %(current)r"),
            code="verify.algorithm",
            parameters={"protocol": protocol.algorithm_version, "current": ALGORITHM_VERSION},
        )
    digest = frame.sha256()
    if digest != protocol.frame_sha256:
        raise VerificationError(
            N_(
                "frame hash mismatch: the protocol has %(expected)s, the frame (%(source)s) "
                "gives %(digest)s (rows: protocol %(protocol_rows)s, frame %(frame_rows)s)"
            )
            if frame.source
            else N_(
                "frame hash mismatch: the protocol has %(expected)s, the frame gives %(digest)s "
                "(rows: protocol %(protocol_rows)s, frame %(frame_rows)s)"
            ),
            code="verify.frame_digest",
            parameters={
                "expected": protocol.frame_sha256,
                "source": frame.source,
                "digest": digest,
                "protocol_rows": protocol.frame_rows,
                "frame_rows": frame.row_count,
            },
        )
    result = draw(frame, protocol.design, protocol.seed, frame_sha256=digest)
    if result.sample_sha256 != protocol.sample_sha256:
        raise VerificationError(
            N_(
                "re-running the protocol's design and seed on this frame gives sample "
                "%(digest)s, but the protocol records %(expected)s"
            ),
            code="verify.sample_digest",
            parameters={"digest": result.sample_sha256, "expected": protocol.sample_sha256},
        )
    differences = _sample_differences(frame, result, sample, sample_source)
    if differences:
        shown = differences[:limit]
        more = len(differences) - len(shown)
        if more > 0:
            shown.append(Problem("verify.more", N_("and %(more)s more"), {"more": more}))
        raise VerificationError(
            N_("the sample differs from the draw: %(differences)s"),
            code="verify.sample_differs",
            parameters={"differences": tuple(shown)},
        )
    return result


def verify_files(protocol_path: str, frame_path: str, sample_path: str) -> DrawResult:
    """Verify a draw from the three files an auditor holds (``python -m sampling verify``).

    Parameters
    ----------
    protocol_path, frame_path, sample_path
        The protocol (JSON), the frame's canonical columns (CSV) and the sample
        (CSV), as the platform exports them (a UTF-8 BOM is skipped).

    Raises
    ------
    InputError
        A file cannot be read as what it should be (file, line and column named).
    VerificationError
        The files read, but the sample is not what the protocol draws.
    """
    with open(protocol_path, encoding="utf-8-sig") as handle:
        protocol = Protocol.from_json(handle.read(), source=protocol_path)
    frame = read_frame_csv(
        frame_path,
        id_column=protocol.id_column,
        stratum_column=protocol.stratum_column,
        size_column=protocol.size_column,
    )
    sample = read_csv_text_table(sample_path)
    return verify_sample(protocol, frame, sample, sample_source=sample_path)


def _sample_differences(
    frame: Frame, result: DrawResult, sample: pa.Table, source: str | None
) -> list[Problem]:
    name = source or "sample"
    needed = [frame.id_column, *SAMPLE_COLUMNS]
    for column in needed:
        if column not in sample.column_names:
            raise VerificationError(
                N_("%(file)s: no column %(column)r"),
                code="verify.no_column",
                parameters={"file": name, "column": column},
            )
    expected_table = sample_table(frame, result)
    expected = {
        identifier: row
        for row, identifier in enumerate(expected_table.column(frame.id_column).to_pylist())
    }
    expected_columns = {
        c: expected_table.column(c).to_pylist() for c in expected_table.column_names
    }
    sample_columns = {c: sample.column(c).to_pylist() for c in sample.column_names}
    differences: list[Problem] = []
    seen: dict[str, int] = {}
    for position, identifier in enumerate(sample_columns[frame.id_column]):
        line = position + 2
        if identifier in seen:
            differences.append(
                Problem(
                    "verify.repeated_id",
                    N_("line %(line)s: id %(id)r repeats line %(other)s"),
                    {"line": line, "id": identifier, "other": seen[identifier]},
                )
            )
            continue
        seen[identifier] = line
        row = expected.get(identifier)
        if row is None:
            differences.append(
                Problem(
                    "verify.unknown_id",
                    N_("line %(line)s: id %(id)r is not in the draw"),
                    {"line": line, "id": identifier},
                )
            )
            continue
        for column, values in expected_columns.items():
            if column not in sample_columns:
                differences.append(
                    Problem(
                        "verify.missing_column",
                        N_("column %(column)r is missing"),
                        {"column": column},
                    )
                )
                continue
            want, got = values[row], sample_columns[column][position]
            if column in ("inclusion_probability", "design_weight"):
                if _same_number(want, got):
                    continue
            elif want == got:
                continue
            differences.append(
                Problem(
                    "verify.different_value",
                    N_("line %(line)s: column %(column)r is %(got)r, the draw has %(want)r"),
                    {"line": line, "column": column, "got": got, "want": want},
                )
            )
    for identifier, row in expected.items():
        if identifier not in seen:
            replicate = expected_columns["replicate"][row]
            differences.append(
                Problem(
                    "verify.missing_id",
                    N_("id %(id)r (replicate %(replicate)s) of the draw is missing"),
                    {"id": identifier, "replicate": replicate},
                )
            )
    return differences


def _same_number(want: str, got: str) -> bool:
    try:
        return math.isclose(float(want), float(got), rel_tol=1e-12, abs_tol=0.0)
    except ValueError:
        return False


def _stratum_seed(key: bytes, name: str) -> np.random.SeedSequence:
    digest = hashlib.sha256(key + b"\0stratum\0" + name.encode()).digest()
    return np.random.SeedSequence(int.from_bytes(digest, "big"))


def _csv_line(values: Sequence[Any]) -> str:
    return ",".join(_csv_field(str(value)) for value in values) + "\n"


def _csv_field(value: str) -> str:
    if any(character in value for character in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value
