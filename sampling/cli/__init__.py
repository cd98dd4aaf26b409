"""Command-line interface ``python -m sampling`` (contract: DESIGN.md §6).

Each concept registers its own sub-commands.  Handlers import numpy, pyarrow
and friends lazily, so that a command loads only what it needs: the whole
process is what users time.

Errors go to stderr, prefixed ``error:``, with a non-zero exit (2 for bad input
or design, 3 for a failed verification, 4 for non-convergence).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sampling.errors import ConvergenceError, SamplingError, VerificationError


def build_parser() -> argparse.ArgumentParser:
    """Return the parser with every sub-command registered."""
    from sampling.cli import design_commands, estimation_commands, smoothing_commands

    parser = argparse.ArgumentParser(
        prog="python -m sampling",
        description="minyi statistics engine: sample size, allocation, draws, estimation, "
        "small-area smoothing.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    design_commands.register(subparsers)
    estimation_commands.register(subparsers)
    smoothing_commands.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.handler(args)
    except VerificationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    except ConvergenceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 4
    except SamplingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except FileNotFoundError as error:
        print(f"error: {error.filename}: file not found", file=sys.stderr)
        return 2
    return result
