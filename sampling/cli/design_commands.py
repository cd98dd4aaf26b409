"""Sub-commands ``size``, ``allocate``, ``draw``, ``verify``, ``digits`` (DESIGN.md §6).

Heavy modules (numpy, pyarrow) are imported inside the handlers so that the
parser itself loads fast.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from sampling.errors import InputError

if TYPE_CHECKING:
    from sampling.design.allocation import StratumSpec

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Register the design sub-commands on ``subparsers``."""
    size = subparsers.add_parser(
        "size",
        help="sample size for a proportion or a mean",
        description="Sample size at a margin of error (Cochran 1977, §4.4).",
    )
    size.add_argument("--margin", type=float, required=True, help="margin of error e")
    size.add_argument("--confidence", type=float, required=True, help="confidence level, e.g. 0.95")
    size.add_argument("--p", type=float, default=None, help="anticipated proportion (default 0.5)")
    size.add_argument("--sd", type=float, default=None, help="standard deviation (for a mean)")
    size.add_argument("--population", type=int, default=None, help="population size N")
    size.add_argument("--deff", type=float, default=1.0, help="design effect")
    size.add_argument("--response-rate", type=float, default=1.0, help="expected response rate")
    size.add_argument("--units", type=int, default=None, help="rated units: per-unit requirement")
    size.set_defaults(handler=run_size)

    allocate = subparsers.add_parser(
        "allocate",
        help="allocate a total sample size over strata",
        description="FILE has columns stratum,N[,S][,cost].",
    )
    allocate.add_argument("--strata", required=True, metavar="FILE")
    allocate.add_argument("--n", type=int, required=True, metavar="TOTAL")
    allocate.add_argument(
        "--method", required=True, choices=["proportional", "neyman", "optimal", "equal"]
    )
    allocate.add_argument("--min", type=int, default=0, metavar="M", help="minimum per stratum")
    allocate.set_defaults(handler=run_allocate)

    draw = subparsers.add_parser(
        "draw",
        help="draw a verifiable stratified sample from a frame",
        description="Writes the sample (all frame columns plus inclusion_probability, "
        "design_weight, replicate) and optionally the protocol.",
    )
    draw.add_argument("frame", metavar="FRAME")
    draw.add_argument("--id", required=True, metavar="COL", dest="id_column")
    draw.add_argument("--strata", required=True, metavar="COL", dest="stratum_column")
    group = draw.add_mutually_exclusive_group(required=True)
    group.add_argument("--n", type=int, metavar="N", help="total sample size")
    group.add_argument("--allocation", metavar="FILE", help="file with columns stratum,n")
    draw.add_argument("--method", choices=["proportional", "equal"], default="proportional")
    draw.add_argument("--min", type=int, default=0, metavar="M", help="minimum per stratum")
    draw.add_argument("--selection", choices=["srswor", "systematic", "pps"], default="srswor")
    draw.add_argument("--size", metavar="COL", dest="size_column", help="size measure (pps)")
    draw.add_argument("--seed", required=True, metavar="S")
    draw.add_argument("--reserve", type=int, default=0, metavar="K", help="reserve batches")
    draw.add_argument("--out", required=True, metavar="SAMPLE.csv", help="'-' for stdout")
    draw.add_argument("--protocol", metavar="P.json")
    draw.set_defaults(handler=run_draw)

    verify = subparsers.add_parser(
        "verify",
        help="check a sample against its protocol and frame",
        description="Exit 0 and print 'verified' when SAMPLE is what PROTOCOL draws from FRAME.",
    )
    verify.add_argument("protocol", metavar="P.json")
    verify.add_argument("frame", metavar="FRAME")
    verify.add_argument("sample", metavar="SAMPLE.csv")
    verify.set_defaults(handler=run_verify)

    digits = subparsers.add_parser(
        "digits",
        help="generate random mobile numbers from a prefix table (RDD)",
        description="Random-digit generation (随机数字拨号): distinct 11-digit numbers, each "
        "number of a region's prefixes equally likely.  Without --allocation, N is shared "
        "over the regions in proportion to how many numbers their prefixes hold, so every "
        "number of the table is equally likely.  Writes number,region as CSV.",
    )
    digits.add_argument("--prefixes", required=True, metavar="FILE", help="columns prefix,region")
    digits.add_argument("--n", type=int, metavar="N", help="total count of numbers")
    digits.add_argument(
        "--allocation", metavar="FILE", help="numbers per region: columns region,n (or stratum,n)"
    )
    digits.add_argument("--seed", required=True, metavar="S")
    digits.add_argument(
        "--exclude-hashes",
        metavar="FILE",
        help="do-not-call list: one hex HMAC-SHA256 of an 11-digit number per line",
    )
    digits.add_argument(
        "--hash-key-env",
        metavar="VAR",
        help="environment variable holding the HMAC key of --exclude-hashes",
    )
    digits.add_argument("--out", required=True, metavar="OUT.csv", help="'-' for stdout")
    digits.set_defaults(handler=run_digits)


def run_size(args: argparse.Namespace) -> int:
    """``size``: print the sample size as JSON."""
    from sampling.design.size import per_unit_requirement, required_sample_size

    if args.units is not None:
        requirement = per_unit_requirement(
            args.units,
            args.margin,
            args.confidence,
            proportion=args.p,
            standard_deviation=args.sd,
            population_per_unit=args.population,
            design_effect=args.deff,
            response_rate=args.response_rate,
        )
        output = {**requirement.per_unit.to_dict(), **requirement.to_dict()}
        del output["per_unit"]
    else:
        output = required_sample_size(
            args.margin,
            args.confidence,
            proportion=args.p,
            standard_deviation=args.sd,
            population=args.population,
            design_effect=args.deff,
            response_rate=args.response_rate,
        ).to_dict()
    print(json.dumps(output, ensure_ascii=False, indent=2))
    return 0


def run_allocate(args: argparse.Namespace) -> int:
    """``allocate``: print the per-stratum sizes as JSON."""
    from sampling.design.allocation import allocate

    strata = read_strata_file(args.strata)
    result = allocate(strata, args.n, args.method, minimum=args.min)
    print(result.to_json())
    return 0


def _without_blas_threads() -> None:
    """Start numpy without OpenBLAS's thread pool when this process imports it first.

    The design commands do no linear algebra, and the pool's threads cost a
    draw about 0.1 s of CPU at start-up and while they spin.  A value the user
    set is kept, and a process that already imported numpy is left alone.
    """
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def run_draw(args: argparse.Namespace) -> int:
    """``draw``: draw the sample and write it (and the protocol) atomically."""
    _without_blas_threads()
    from sampling.design.draw import (
        DrawDesign,
        Protocol,
        allocate_for_frame,
        draw,
        index_strata,
        sample_table,
        write_atomically,
        write_sample_csv,
    )
    from sampling.design.frame import read_frame_csv

    if args.selection == "pps" and args.size_column is None:
        raise InputError("pps selection needs --size COL", column="--size")
    sizes = read_allocation_file(args.allocation) if args.allocation else None
    frame = read_frame_csv(
        args.frame,
        id_column=args.id_column,
        stratum_column=args.stratum_column,
        size_column=args.size_column,
    )
    # A large frame's digest is being computed in a thread (see Frame.sha256)
    # while the rows are grouped here.
    index = index_strata(frame)
    if sizes is None:
        allocation = allocate_for_frame(
            frame, args.n, args.method, minimum=args.min, strata_index=index
        )
        request: dict[str, Any] = {"method": args.method, "total": args.n, "minimum": args.min}
        design = DrawDesign.build(allocation, args.selection, args.reserve)
    else:
        request = {"file": os.path.basename(args.allocation)}
        design = DrawDesign.build(sizes, args.selection, args.reserve)
    result = draw(frame, design, args.seed, strata_index=index)
    table = sample_table(frame, result)
    protocol = Protocol.from_result(result, frame, allocation_request=request)
    if args.out == "-":
        write_sample_csv(table, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    else:
        write_atomically(args.out, table=table)
    if args.protocol:
        write_atomically(args.protocol, content=protocol.to_json().encode())
    summary = {
        "frame_sha256": result.frame_sha256,
        "frame_rows": frame.row_count,
        "sample_rows": int(result.rows.size),
        "main_sample": design.sample_size,
        "sample_sha256": result.sample_sha256,
    }
    print(json.dumps(summary), file=sys.stderr if args.out == "-" else sys.stdout)
    return 0


def run_verify(args: argparse.Namespace) -> int:
    """``verify``: exit 0 and print ``verified``, or raise VerificationError (exit 3)."""
    _without_blas_threads()
    from sampling.design.draw import verify_files

    verify_files(args.protocol, args.frame, args.sample)
    print("verified")
    return 0


DIGITS_ALGORITHM_VERSION = "minyi-digits-1"


def run_digits(args: argparse.Namespace) -> int:
    """``digits``: generate numbers and write ``number,region`` atomically."""
    _without_blas_threads()
    import hashlib

    import numpy as np
    import pyarrow as pa

    from sampling.design.allocation import StratumSpec, allocate
    from sampling.design.draw import write_atomically, write_sample_csv
    from sampling.design.random_digits import (
        DoNotCallList,
        generate_numbers,
        read_prefix_table,
    )

    if args.n is None and args.allocation is None:
        raise InputError("give --n N or --allocation FILE", column="--n")
    if args.n is not None and args.n < 0:
        raise InputError(f"must be a whole number ≥ 0, got {args.n}", column="--n")
    prefixes = read_prefix_table(args.prefixes)
    if args.allocation is not None:
        counts = read_allocation_file(args.allocation, name_columns=("region", "stratum"))
        if args.n is not None and sum(counts.values()) != args.n:
            raise InputError(
                f"the allocation sums to {sum(counts.values())}, not --n {args.n}",
                file=args.allocation,
                column="n",
            )
    else:
        capacity: dict[str, int] = {}
        for prefix in prefixes:
            capacity[prefix.region] = capacity.get(prefix.region, 0) + prefix.capacity
        specs = [StratumSpec(region, size) for region, size in sorted(capacity.items())]
        counts = allocate(specs, args.n, "proportional").as_mapping()
    exclude = None
    listed: set[str] = set()
    if args.exclude_hashes is not None:
        listed = set(_read_hashes(args.exclude_hashes))
        exclude = DoNotCallList(_hash_key(args.hash_key_env), listed)
    elif args.hash_key_env is not None:
        raise InputError("--hash-key-env needs --exclude-hashes", column="--hash-key-env")
    # The stream is keyed by the algorithm version and the seed text, as the
    # draw's is, so a published seed reproduces the numbers.
    key = hashlib.sha256(f"{DIGITS_ALGORITHM_VERSION}\0{args.seed}".encode()).digest()
    generator = np.random.Generator(np.random.PCG64(int.from_bytes(key, "big")))
    result = generate_numbers(prefixes, counts, generator, exclude=exclude)
    table = pa.table(
        {
            "number": pa.array(result.numbers, type=pa.string()),
            "region": pa.array(result.regions, type=pa.string()),
        }
    )
    if args.out == "-":
        write_sample_csv(table, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    else:
        write_atomically(args.out, table=table)
    per_region: dict[str, int] = {}
    for region in result.regions:
        per_region[region] = per_region.get(region, 0) + 1
    summary = {
        "algorithm_version": DIGITS_ALGORITHM_VERSION,
        "seed": args.seed,
        "numbers": len(result.numbers),
        "regions": per_region,
        "do_not_call_hashes": len(listed),
    }
    print(
        json.dumps(summary, ensure_ascii=False),
        file=sys.stderr if args.out == "-" else sys.stdout,
    )
    return 0


def _hash_key(variable: str | None) -> bytes:
    if not variable:
        raise InputError(
            "--exclude-hashes needs --hash-key-env VAR naming the variable that holds the key",
            column="--hash-key-env",
        )
    value = os.environ.get(variable, "")
    if not value:
        raise InputError(
            f"the environment variable {variable} is not set or empty", column="--hash-key-env"
        )
    return value.encode()


def _read_hashes(path: str) -> list[str]:
    """One hex HMAC-SHA256 per line; blank lines and ``#`` comments are skipped."""
    digests = []
    with open(path, encoding="utf-8-sig") as handle:
        for line, text in enumerate(handle, start=1):
            value = text.strip().lower()
            if not value or value.startswith("#"):
                continue
            if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
                raise InputError(
                    "not a hex SHA-256 digest (64 characters 0-9, a-f)",
                    file=path,
                    line=line,
                )
            digests.append(value)
    return digests


def read_strata_file(path: str) -> list[StratumSpec]:
    """Read ``stratum,N[,S][,cost]``; errors name the file, line and column."""
    from sampling.design.allocation import StratumSpec

    header, records = _read_small_csv(path, required=("stratum", "N"))
    specs = []
    for line, record in records:
        values = dict(zip(header, record, strict=True))
        name = values["stratum"].strip()
        if not name:
            raise InputError("the stratum is empty", file=path, line=line, column="stratum")
        population = _parse_number(values["N"], int, path, line, "N")
        deviation = _optional_float(values.get("S"), path, line, "S")
        cost = _optional_float(values.get("cost"), path, line, "cost")
        specs.append(StratumSpec(name, population, deviation, cost))
    return specs


def read_allocation_file(
    path: str, *, name_columns: tuple[str, ...] = ("stratum",)
) -> dict[str, int]:
    """Read ``stratum,n`` (or the first of ``name_columns`` present, ``n``).

    Errors name the file, line and column.
    """
    with open(path, encoding="utf-8-sig", newline="") as handle:
        found = [name.strip() for name in next(csv.reader(handle), [])]
    key = next((column for column in name_columns if column in found), name_columns[0])
    header, records = _read_small_csv(path, required=(key, "n"))
    sizes: dict[str, int] = {}
    lines: dict[str, int] = {}
    for line, record in records:
        values = dict(zip(header, record, strict=True))
        name = values[key].strip()
        if not name:
            raise InputError(f"the {key} is empty", file=path, line=line, column=key)
        if name in sizes:
            raise InputError(
                f"{key} {name!r} repeats line {lines[name]}",
                file=path,
                line=line,
                column=key,
            )
        size = _parse_number(values["n"], int, path, line, "n")
        if size < 0:
            raise InputError(f"n must be ≥ 0, got {size}", file=path, line=line, column="n")
        sizes[name] = size
        lines[name] = line
    return sizes


def _read_small_csv(
    path: str, *, required: tuple[str, ...]
) -> tuple[list[str], list[tuple[int, list[str]]]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = [name.strip() for name in next(reader, [])]
        for column in required:
            if column not in header:
                raise InputError(
                    f"no column {column!r} in the header", file=path, line=1, column=column
                )
        records = []
        for record in reader:
            if not record:
                continue
            if len(record) != len(header):
                raise InputError(
                    f"expected {len(header)} fields, found {len(record)}",
                    file=path,
                    line=reader.line_num,
                )
            records.append((reader.line_num, record))
    if not records:
        raise InputError("no rows after the header", file=path, line=2)
    return header, records


def _parse_number(
    text: str, kind: type[int] | type[float], path: str, line: int, column: str
) -> Any:
    try:
        return kind(text.strip())
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise InputError(f"{text!r} is not {what}", file=path, line=line, column=column) from None


def _optional_float(text: str | None, path: str, line: int, column: str) -> float | None:
    if text is None or not text.strip():
        return None
    value: float = _parse_number(text, float, path, line, column)
    return value
