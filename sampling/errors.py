"""Error hierarchy of the statistics engine.

Every error raised on purpose by :mod:`sampling` derives from
:class:`SamplingError`, so callers (the CLI, the web app) can catch one type and
show the message, which always names what is wrong.
"""

from __future__ import annotations


class SamplingError(Exception):
    """Base class of all errors raised by :mod:`sampling`."""


class InputError(SamplingError, ValueError):
    """Bad input data: names the file, line and column (or field) where known.

    Parameters
    ----------
    message
        What is wrong, in plain words.
    file, line, column
        Where it is wrong.  ``line`` is 1-based and counts the header line of a
        CSV file as line 1, so it matches what a text editor shows.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = []
        if self.file is not None:
            where.append(str(self.file))
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class DesignError(SamplingError, ValueError):
    """The sample design cannot be satisfied or is not valid (e.g. n > N)."""


class ConvergenceError(SamplingError, ArithmeticError):
    """An iterative method (raking, calibration) did not converge."""


class VerificationError(SamplingError):
    """A sample does not match what its protocol produces from the frame."""
