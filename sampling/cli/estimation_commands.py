"""Sub-commands ``estimate``, ``rake``, ``poststratify``, ``rates`` (DESIGN.md §6).

Heavy modules (numpy, pyarrow, the estimation package) are imported inside
the handlers so that ``python -m sampling`` loads only what a command needs.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import IO, Any

from sampling.errors import InputError


def register(subparsers: Any) -> None:
    """Register the estimation sub-commands on ``subparsers``."""
    estimate = subparsers.add_parser(
        "estimate",
        help="design-based mean, proportion (or by domains) with SE, CI and deff",
        description="Taylor-linearised estimates by domain, as R survey::svyby(na.rm=TRUE).",
    )
    estimate.add_argument("data", metavar="DATA", help="CSV file, one row per response")
    estimate.add_argument("--value", required=True, help="analysis column (empty = missing)")
    estimate.add_argument("--by", action="append", default=[], help="domain column (repeatable)")
    estimate.add_argument("--strata", help="stratum column")
    estimate.add_argument("--psu", help="PSU (cluster) column")
    estimate.add_argument("--weight", help="weight column (default: every weight 1)")
    estimate.add_argument("--fpc", help="column with the stratum population size N_h")
    estimate.add_argument("--level", type=float, default=0.95, help="confidence level")
    estimate.add_argument("--proportion", action="store_true", help="VALUE is 0/1: a proportion")
    estimate.add_argument(
        "--ci-method",
        choices=["logit", "wilson", "korn-graubard"],
        default="logit",
        help="interval for --proportion (default logit)",
    )
    estimate.add_argument(
        "--df",
        choices=["design", "domain"],
        default="design",
        dest="degrees_of_freedom",
        help="t degrees of freedom of a --proportion interval (logit, wilson): the design's "
        "degf for every domain (default) or each domain's own degf, R svyciprop's default",
    )
    estimate.add_argument(
        "--lonely-psu",
        choices=["fail", "certainty", "remove", "adjust"],
        default="fail",
        help="strata with one PSU (as R options(survey.lonely.psu))",
    )
    estimate.add_argument("--format", choices=["json", "csv"], default="json")
    estimate.add_argument("--out", help="write here instead of stdout (atomically)")
    estimate.set_defaults(handler=run_estimate)

    rake = subparsers.add_parser(
        "rake", help="rake weights to margins (iterative proportional fitting)"
    )
    rake.add_argument("data", metavar="DATA")
    rake.add_argument("--weight", required=True, help="starting weight column")
    rake.add_argument("--margins", required=True, help="CSV with columns variable,level,total")
    rake.add_argument("--max-iter", type=int, default=100)
    rake.add_argument("--tol", type=float, default=1e-10, help="relative margin tolerance")
    rake.add_argument("--out", required=True, help="DATA plus a raked_weight column")
    rake.set_defaults(handler=run_rake)

    post = subparsers.add_parser("poststratify", help="post-stratify weights to cell counts")
    post.add_argument("data", metavar="DATA")
    post.add_argument("--weight", required=True)
    post.add_argument(
        "--cells",
        required=True,
        help="CSV with columns variable,level,total; variable may be a cross a|b",
    )
    post.add_argument("--out", required=True, help="DATA plus a poststratified_weight column")
    post.set_defaults(handler=run_poststratify)

    rates = subparsers.add_parser("rates", help="AAPOR response, cooperation, refusal, contact")
    rates.add_argument("--counts", help="CSV with columns code,count (AAPOR final codes)")
    for category in ("I", "P", "R", "NC", "O", "UH", "UO", "NE"):
        rates.add_argument(f"--{category}", type=int, default=None, help=f"count of {category}")
    rates.add_argument("--e", type=float, default=None, help="eligibility share of unknowns")
    rates.set_defaults(handler=run_rates)


# ------------------------------------------------------------------ estimate
def run_estimate(args: argparse.Namespace) -> int:
    """``estimate``: one row per domain with estimate, se, ci_low, ci_high, n, deff."""
    import numpy as np

    from sampling.estimation import Domains, ProportionCiMethod, RowSource, SurveyDesign
    from sampling.io import read_csv

    by: list[str] = args.by
    label_columns = [c for c in [args.strata, args.psu, *by] if c]
    numeric = [c for c in [args.value, args.weight, args.fpc] if c]
    table = read_csv(args.data, [*numeric, *label_columns], numeric=numeric)
    values = table.numeric(args.value, allow_missing=True)
    if args.weight:
        weights = table.numeric(args.weight)
        bad = ~(weights > 0)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"weights must be positive, got {weights[first]:g}",
                file=args.data,
                line=first + 2,
                column=args.weight,
            )
    else:
        weights = np.ones(table.n_rows)
    strata, stratum_names = table.labels(args.strata) if args.strata else (None, None)
    psu = table.labels(args.psu)[0] if args.psu else None
    fpc = table.numeric(args.fpc) if args.fpc else None
    domains = Domains.from_codes([table.labels(name) for name in by], by) if by else None
    # Errors about a row name the file, its line, the column by its name and a
    # stratum by its value (not by the integer code the design works with).
    roles = {"strata": args.strata, "psu": args.psu, "fpc": args.fpc, "weights": args.weight}
    source = RowSource(
        file=args.data,
        first_line=2,
        columns={"values": args.value, **{role: name for role, name in roles.items() if name}},
        stratum_names=stratum_names,
    )
    design = SurveyDesign(
        weights, strata=strata, psu=psu, fpc=fpc, lonely_psu=args.lonely_psu, source=source
    )
    if args.proportion:
        method = {
            "logit": ProportionCiMethod.LOGIT,
            "wilson": ProportionCiMethod.WILSON,
            "korn-graubard": ProportionCiMethod.KORN_GRAUBARD,
        }[args.ci_method]
        result = design.proportion(
            values,
            domains,
            level=args.level,
            ci_method=method,
            degrees_of_freedom=args.degrees_of_freedom,
        )
    else:
        result = design.mean(values, domains, level=args.level)
    rows = list(result.rows())
    for index, row in enumerate(rows):
        row["df"] = result.interval_df(index)
    columns = [*by, "estimate", "se", "ci_low", "ci_high", "n", "deff", "df"]
    _emit(args.out, lambda handle: _write_rows(handle, rows, columns, args.format))
    return 0


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # deff undefined (SRSWOR variance), documented in docs/statistics.md
    return value


def _write_rows(handle: IO[str], rows: list[dict[str, Any]], columns: list[str], kind: str) -> None:
    if kind == "json":
        json.dump(
            [{c: _json_value(row[c]) for c in columns} for row in rows],
            handle,
            ensure_ascii=False,
            indent=1,
        )
        handle.write("\n")
        return
    import csv

    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if _json_value(row[c]) is None else row[c] for c in columns])


def _emit(out: str | None, write: Any) -> None:
    if out:
        from sampling.io import write_atomically

        write_atomically(out, write)
    else:
        write(sys.stdout)


# -------------------------------------------------------- rake, poststratify
def _read_totals(path: str) -> list[tuple[str, str, float, int]]:
    import csv
    from pathlib import Path

    if not Path(path).is_file():
        raise InputError("file not found", file=path)
    rows: list[tuple[str, str, float, int]] = []
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = {"variable", "level", "total"} - set(reader.fieldnames or [])
        if missing:
            raise InputError(
                f"missing column(s) {', '.join(sorted(missing))}; expected variable,level,total",
                file=path,
                line=1,
            )
        for line, record in enumerate(reader, start=2):
            try:
                total = float(record["total"])
            except (TypeError, ValueError):
                raise InputError(
                    f"not a number: {record['total']!r}", file=path, line=line, column="total"
                ) from None
            if not math.isfinite(total) or total < 0:
                raise InputError(
                    f"total must be a non-negative number, got {record['total']}",
                    file=path,
                    line=line,
                    column="total",
                )
            variable = (record["variable"] or "").strip()
            if not variable:
                raise InputError("empty variable name", file=path, line=line, column="variable")
            rows.append((variable, (record["level"] or "").strip(), total, line))
    if not rows:
        raise InputError("no totals in the file", file=path)
    seen: set[tuple[str, str]] = set()
    for variable, level, _, line in rows:
        if (variable, level) in seen:
            raise InputError(f"duplicate level {variable}={level}", file=path, line=line)
        seen.add((variable, level))
    return rows


def _positive_weights(table: Any, column: str) -> Any:
    import numpy as np

    weights = table.numeric(column)
    bad = ~(weights > 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"weights must be positive, got {weights[row]:g}",
            file=table.path,
            line=row + 2,
            column=column,
        )
    return weights


def run_rake(args: argparse.Namespace) -> int:
    """``rake``: DATA with a ``raked_weight`` column reproducing every margin."""
    from sampling.io import read_csv, write_table_with_column
    from sampling.weighting import Margin, rake

    totals = _read_totals(args.margins)
    variables = list(dict.fromkeys(variable for variable, _, _, _ in totals))
    table = read_csv(args.data, [args.weight, *variables], all_text=True)
    weights = _positive_weights(table, args.weight)
    margins = [
        Margin(
            variable,
            table.text(variable),
            {level: total for name, level, total, _ in totals if name == variable},
        )
        for variable in variables
    ]
    result = rake(weights, margins, max_iterations=args.max_iter, tolerance=args.tol)
    write_table_with_column(args.out, table, "raked_weight", result.weights)
    print(
        json.dumps(
            {
                "iterations": result.iterations,
                "max_relative_error": result.max_relative_error,
                "rows": table.n_rows,
                "out": args.out,
            }
        )
    )
    return 0


def run_poststratify(args: argparse.Namespace) -> int:
    """``poststratify``: DATA with a ``poststratified_weight`` column."""
    import numpy as np

    from sampling.io import read_csv, write_table_with_column
    from sampling.weighting import poststratify

    totals = _read_totals(args.cells)
    variables = {variable for variable, _, _, _ in totals}
    if len(variables) != 1:
        raise InputError(
            f"post-stratification takes one variable or one a|b cross, got {sorted(variables)}",
            file=args.cells,
        )
    variable = variables.pop()
    parts = variable.split("|")
    table = read_csv(args.data, [args.weight, *parts], all_text=True)
    weights = _positive_weights(table, args.weight)
    cells = table.text(parts[0])
    for part in parts[1:]:
        cells = np.char.add(np.char.add(cells, "|"), table.text(part))
    result = poststratify(
        weights, cells, {level: total for _, level, total, _ in totals}, variable=variable
    )
    write_table_with_column(args.out, table, "poststratified_weight", result.weights)
    print(json.dumps({"cells": len(result.cells), "rows": table.n_rows, "out": args.out}))
    return 0


# --------------------------------------------------------------------- rates
def run_rates(args: argparse.Namespace) -> int:
    """``rates``: AAPOR outcome rates as JSON."""
    from dataclasses import asdict

    from sampling.rates import DispositionCounts, counts_from_codes, response_rates

    given = {
        name: getattr(args, name)
        for name in ("I", "P", "R", "NC", "O", "UH", "UO", "NE")
        if getattr(args, name) is not None
    }
    if args.counts and given:
        raise InputError("give either --counts FILE or the category counts, not both")
    if args.counts:
        counts = counts_from_codes(_read_code_counts(args.counts))
    elif given:
        counts = DispositionCounts(**given)
    else:
        raise InputError("give --counts FILE (columns code,count) or --I/--P/--R/... counts")
    rates = response_rates(counts, e=args.e)
    json.dump({"counts": asdict(counts), "rates": rates.as_dict()}, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


def _read_code_counts(path: str) -> dict[str, int]:
    import csv
    from pathlib import Path

    from sampling.rates import category_of_code

    if not Path(path).is_file():
        raise InputError("file not found", file=path)
    result: dict[str, int] = {}
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = {"code", "count"} - set(reader.fieldnames or [])
        if missing:
            raise InputError(
                f"missing column(s) {', '.join(sorted(missing))}; expected code,count",
                file=path,
                line=1,
            )
        for line, record in enumerate(reader, start=2):
            code = (record["code"] or "").strip()
            try:
                category_of_code(code)
            except InputError as error:
                raise InputError(error.message, file=path, line=line, column="code") from None
            try:
                count = int(record["count"])
            except (TypeError, ValueError):
                raise InputError(
                    f"not a whole number: {record['count']!r}",
                    file=path,
                    line=line,
                    column="count",
                ) from None
            if count < 0:
                raise InputError("count must not be negative", file=path, line=line, column="count")
            result[code] = result.get(code, 0) + count
    return result
