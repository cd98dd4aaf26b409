"""Sub-commands ``size``, ``allocate``, ``draw``, ``verify`` (DESIGN.md §6).

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


def run_draw(args: argparse.Namespace) -> int:
    """``draw``: draw the sample and write it (and the protocol) atomically."""
    import threading

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
    # The digest (hashlib, GIL released) runs beside the grouping (Arrow/numpy).
    digest: list[str] = []
    hasher = threading.Thread(target=lambda: digest.append(frame.sha256()))
    hasher.start()
    try:
        index = index_strata(frame)
    finally:
        hasher.join()
    if sizes is None:
        allocation = allocate_for_frame(
            frame, args.n, args.method, minimum=args.min, strata_index=index
        )
        request: dict[str, Any] = {"method": args.method, "total": args.n, "minimum": args.min}
        design = DrawDesign.build(allocation, args.selection, args.reserve)
    else:
        request = {"file": os.path.basename(args.allocation)}
        design = DrawDesign.build(sizes, args.selection, args.reserve)
    result = draw(frame, design, args.seed, strata_index=index, frame_sha256=digest[0])
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
    from sampling.design.draw import Protocol, verify_sample
    from sampling.design.frame import read_csv_text_table, read_frame_csv

    with open(args.protocol, encoding="utf-8") as handle:
        protocol = Protocol.from_json(handle.read(), source=args.protocol)
    frame = read_frame_csv(
        args.frame,
        id_column=protocol.id_column,
        stratum_column=protocol.stratum_column,
        size_column=protocol.size_column,
    )
    sample = read_csv_text_table(args.sample)
    verify_sample(protocol, frame, sample, sample_source=args.sample)
    print("verified")
    return 0


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


def read_allocation_file(path: str) -> dict[str, int]:
    """Read ``stratum,n``; errors name the file, line and column."""
    header, records = _read_small_csv(path, required=("stratum", "n"))
    sizes: dict[str, int] = {}
    lines: dict[str, int] = {}
    for line, record in records:
        values = dict(zip(header, record, strict=True))
        name = values["stratum"].strip()
        if not name:
            raise InputError("the stratum is empty", file=path, line=line, column="stratum")
        if name in sizes:
            raise InputError(
                f"stratum {name!r} repeats line {lines[name]}",
                file=path,
                line=line,
                column="stratum",
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
