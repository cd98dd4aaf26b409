"""Error hierarchy of the statistics engine.

Every error raised on purpose by :mod:`sampling` derives from
:class:`SamplingError`, so callers (the CLI, the web app) can catch one type and
show the message, which always names what is wrong.

Each error carries a :class:`Problem`: a stable ``code`` (such as
``"frame.duplicate_id"``), an English message template with ``%(name)s``
placeholders and the values of those placeholders.  ``str(error)`` is the
English text (what the command line prints); an application translates the
template with its own catalogue through :meth:`SamplingError.text`.  Templates
are marked with :func:`N_`, the name Babel's extractor looks for, so that the
catalogue can hold them; this package itself never imports a translation
library.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

#: Looks up the translation of an English template (``gettext`` in an app).
Translate = Callable[[str], str]


def N_(template: str) -> str:  # the name Babel's extractor looks for
    """Mark an English message template for translation; returns it unchanged.

    Parameters
    ----------
    template
        The English text, with ``%(name)s`` placeholders for the values.

    Returns
    -------
    str
        ``template`` itself: the translation happens where the text is shown.
    """
    return template


def _untranslated(template: str) -> str:
    return template


@dataclass(frozen=True)
class Problem:
    """What is wrong, as a code, an English template and its values.

    Parameters
    ----------
    code
        Stable identifier of the kind of problem (e.g. ``"draw.n_exceeds_population"``).
    template
        English text with ``%(name)s`` placeholders, marked with :func:`N_`.
    parameters
        Values of the placeholders.  A value that is itself a :class:`Problem`
        or a :class:`SamplingError` (a cause) is translated with the template,
        and so is a tuple of problems (a list, joined by ``"; "``).
    """

    code: str
    template: str
    parameters: Mapping[str, object] = field(default_factory=dict)

    def text(self, translate: Translate = _untranslated) -> str:
        """The message in the language of ``translate``, values filled in.

        Parameters
        ----------
        translate
            Maps an English template to its translation; the default keeps
            the English.

        Returns
        -------
        str
            The filled-in message.
        """
        template = translate(self.template)
        if not self.parameters:
            # A template without values is shown as written (it may hold a '%').
            return template
        values = {name: _filled(value, translate) for name, value in self.parameters.items()}
        return template % values

    def __str__(self) -> str:
        return self.text()


#: Joins the problems of a list (a tuple of problems as one value).
_SEPARATOR = N_("; ")


def _filled(value: object, translate: Translate) -> object:
    """A placeholder's value: a cause or a tuple of causes in the reader's language."""
    if isinstance(value, Problem | SamplingError):
        return value.text(translate)
    if isinstance(value, tuple) and value and all(isinstance(item, Problem) for item in value):
        return translate(_SEPARATOR).join(item.text(translate) for item in value)
    return value


class SamplingError(Exception):
    """Base class of all errors raised by :mod:`sampling`.

    Parameters
    ----------
    template
        English message template with ``%(name)s`` placeholders, marked with
        :func:`N_` (a plain message when ``parameters`` is empty).
    code
        Stable code of the problem; the class's ``default_code`` when omitted.
    parameters
        Values of the placeholders.
    """

    #: Code of the errors whose raise site names none.
    default_code: ClassVar[str] = "sampling.error"

    def __init__(
        self,
        template: str,
        *,
        code: str | None = None,
        parameters: Mapping[str, object] | None = None,
    ) -> None:
        self.problem = Problem(code or self.default_code, template, dict(parameters or {}))
        super().__init__(self.text())

    @property
    def code(self) -> str:
        """Stable code of the problem."""
        return self.problem.code

    @property
    def template(self) -> str:
        """English template of the message (the catalogue's msgid)."""
        return self.problem.template

    @property
    def parameters(self) -> Mapping[str, object]:
        """Values of the template's placeholders."""
        return self.problem.parameters

    def text(self, translate: Translate = _untranslated) -> str:
        """The whole message in the language of ``translate``.

        Parameters
        ----------
        translate
            Maps an English template to its translation; the default keeps
            the English (which is ``str(error)``).

        Returns
        -------
        str
            The message, with where it is for an :class:`InputError`.
        """
        return self.problem.text(translate)

    def __str__(self) -> str:
        return self.text()


#: How an :class:`InputError` says where, by which of (file, line, column) are known.
_PLACES: dict[tuple[bool, bool, bool], str] = {
    (True, False, False): N_("%(file)s: %(message)s"),
    (True, True, False): N_("%(file)s, line %(line)s: %(message)s"),
    (True, True, True): N_("%(file)s, line %(line)s, column %(column)r: %(message)s"),
    (True, False, True): N_("%(file)s, column %(column)r: %(message)s"),
    (False, True, False): N_("line %(line)s: %(message)s"),
    (False, True, True): N_("line %(line)s, column %(column)r: %(message)s"),
    (False, False, True): N_("column %(column)r: %(message)s"),
}


def placed(
    problem: Problem,
    *,
    file: str | None = None,
    line: int | None = None,
    column: str | None = None,
) -> Problem:
    """``problem`` with where it is, as an :class:`InputError` says it.

    For an error of another class (a :class:`DesignError` found at a line of
    a file, say) that should read like an input error's message.

    Parameters
    ----------
    problem
        What is wrong.
    file, line, column
        Where it is wrong (see :class:`InputError`).

    Returns
    -------
    Problem
        ``problem`` itself when no place is known; otherwise a problem of the
        same code whose template says the place and whose ``message`` is
        ``problem`` (translated with it).
    """
    known = (file is not None, line is not None, column is not None)
    if not any(known):
        return problem
    return Problem(
        problem.code,
        _PLACES[known],
        {"file": file, "line": line, "column": column, "message": problem},
    )


class InputError(SamplingError, ValueError):
    """Bad input data: names the file, line and column (or field) where known.

    Parameters
    ----------
    template, code, parameters
        What is wrong (see :class:`SamplingError`).
    file, line, column
        Where it is wrong.  ``line`` is 1-based and counts the header line of a
        CSV file as line 1, so it matches what a text editor shows.
    """

    default_code = "input.invalid"

    def __init__(
        self,
        template: str,
        *,
        code: str | None = None,
        parameters: Mapping[str, object] | None = None,
        file: str | None = None,
        line: int | None = None,
        column: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.column = column
        super().__init__(template, code=code, parameters=parameters)

    @property
    def message(self) -> str:
        """What is wrong, in English, without where."""
        return self.problem.text()

    def text(self, translate: Translate = _untranslated) -> str:
        """The message with where it is (file, line, column), translated.

        Parameters
        ----------
        translate
            Maps an English template to its translation.

        Returns
        -------
        str
            ``"<file>, line <n>, column '<name>': <message>"`` or its translation.
        """
        where = placed(self.problem, file=self.file, line=self.line, column=self.column)
        return where.text(translate)


class DesignError(SamplingError, ValueError):
    """The sample design cannot be satisfied or is not valid (e.g. n > N)."""

    default_code = "design.invalid"


class ConvergenceError(SamplingError, ArithmeticError):
    """An iterative method (raking, calibration) did not converge."""

    default_code = "convergence.failed"


class VerificationError(SamplingError):
    """A sample does not match what its protocol produces from the frame."""

    default_code = "verification.failed"
