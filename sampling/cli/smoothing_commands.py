"""Sub-command ``smooth``: Fay–Herriot EBLUP of per-area scores (DESIGN.md §6).

::

    python -m sampling smooth DATA --area COL --estimate COL --variance COL
        [--covariates a,b] [--method reml|ml] [--format json|csv] [--out FILE]

DATA is a CSV file with one row per area (rated unit): its label
(``--area``), its direct estimate (``--estimate``, e.g. the unit's
satisfaction index from ``estimate``) and the estimate's sampling variance
(``--variance``, the squared ``se``).  ``--covariates`` names area-level
columns, comma-separated (e.g. ``last_year``); an intercept is always in the
model.  ``--method`` chooses how the between-area variance ``σ²_v`` is
estimated: ``reml`` (default; MSE by Prasad & Rao 1990) or ``ml`` (MSE by
Datta & Lahiri 2000).  See :mod:`sampling.smoothing.fay_herriot`.

Output: ``--format json`` (default) is an object ``{"model": {...},
"areas": [...]}`` where ``model`` holds ``method``, ``mse_method``,
``sigma2_v``, ``sigma2_v_variance``, ``coefficients`` and
``coefficient_se`` (by name, ``(intercept)`` first), ``iterations``,
``log_likelihood`` and ``areas`` (the count), and ``areas`` has one object
per area with ``area, direct, direct_variance, eblup, mse, gamma``.
``--format csv`` writes only the per-area rows, with those columns.  Rows
keep the input order.  Every problem with the file names its line and column.
"""

from __future__ import annotations

import argparse
import json
from typing import IO, Any

from sampling.errors import InputError


def register(subparsers: Any) -> None:
    """Register the ``smooth`` sub-command on ``subparsers``."""
    smooth = subparsers.add_parser(
        "smooth",
        help="Fay–Herriot small-area EBLUP of per-area estimates, with MSE",
        description="Fay–Herriot area-level model (REML or ML) and EBLUP per area, as R "
        "sae::eblupFH/mseFH: shrinks noisy direct estimates towards a regression.",
    )
    smooth.add_argument("data", metavar="DATA", help="CSV file, one row per area")
    smooth.add_argument("--area", required=True, help="area (unit) label column")
    smooth.add_argument("--estimate", required=True, help="direct estimate column")
    smooth.add_argument(
        "--variance", required=True, help="sampling variance of the direct estimate (se²)"
    )
    smooth.add_argument(
        "--covariates",
        default="",
        help="area-level covariate columns, comma-separated (intercept always included)",
    )
    smooth.add_argument(
        "--method",
        choices=["reml", "ml"],
        default="reml",
        help="estimation of σ²_v: reml (MSE Prasad–Rao, default) or ml (MSE Datta–Lahiri)",
    )
    smooth.add_argument("--format", choices=["json", "csv"], default="json")
    smooth.add_argument("--out", help="write here instead of stdout (atomically)")
    smooth.set_defaults(handler=run_smooth)


def run_smooth(args: argparse.Namespace) -> int:
    """``smooth``: one row per area with the EBLUP and its MSE, and the model."""
    import numpy as np

    from sampling.cli.estimation_commands import _emit
    from sampling.io import read_csv
    from sampling.smoothing import fay_herriot

    covariates = [name.strip() for name in args.covariates.split(",") if name.strip()]
    repeated = {name for name in covariates if covariates.count(name) > 1}
    if repeated:
        raise InputError(
            f"covariate listed twice: {', '.join(sorted(repeated))}", column="covariates"
        )
    numeric = [args.estimate, args.variance, *covariates]
    for name in numeric:
        if name == args.area:
            raise InputError(f"column {name!r} is both the area label and a number")
    table = read_csv(args.data, [args.area, *numeric], numeric=numeric)
    if table.n_rows == 0:
        raise InputError("no areas in the file", file=args.data)
    codes, level_array = table.labels(args.area)
    levels = level_array.tolist()
    counts = np.bincount(codes, minlength=len(levels))
    if (counts > 1).any():
        code = int(np.flatnonzero(counts > 1)[0])
        lines = [int(row) + 2 for row in np.flatnonzero(codes == code)[:2]]
        raise InputError(
            f"area {str(levels[code])!r} is listed twice (lines {lines[0]} and {lines[1]})",
            file=args.data,
            line=lines[1],
            column=args.area,
        )
    direct = table.numeric(args.estimate)
    variance = table.numeric(args.variance)
    bad = ~(variance > 0) | ~np.isfinite(variance)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"sampling variance must be a positive number, got {variance[row]:g}",
            file=args.data,
            line=row + 2,
            column=args.variance,
        )
    for name, values in [(args.estimate, direct), *((c, table.numeric(c)) for c in covariates)]:
        infinite = ~np.isfinite(values)
        if infinite.any():
            row = int(np.flatnonzero(infinite)[0])
            raise InputError("not a finite number", file=args.data, line=row + 2, column=name)
    try:
        fit = fay_herriot(
            direct,
            variance,
            {name: table.numeric(name) for name in covariates},
            areas=[levels[code] for code in codes.tolist()],
            method=args.method,
        )
    except InputError as error:
        names = {"direct": args.estimate, "variance": args.variance, "area": args.area}
        column = None if error.column is None else names.get(error.column, error.column)
        raise InputError(error.message, file=args.data, column=column) from None
    rows = fit.rows()
    columns = ["area", "direct", "direct_variance", "eblup", "mse", "gamma"]
    _emit(args.out, lambda handle: _write(handle, fit.model(), rows, columns, args.format))
    return 0


def _write(
    handle: IO[str],
    model: dict[str, Any],
    rows: list[dict[str, Any]],
    columns: list[str],
    kind: str,
) -> None:
    if kind == "json":
        json.dump({"model": model, "areas": rows}, handle, ensure_ascii=False, indent=1)
        handle.write("\n")
        return
    import csv

    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([repr(row[c]) if isinstance(row[c], float) else row[c] for c in columns])
