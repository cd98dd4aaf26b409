"""Errors raised by services; views show them to the user and roll back."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from sampling.errors import SamplingError


def N_(message: str) -> str:  # the name Babel's extractor looks for
    """Mark a fixed service message for translation; the view translates it.

    Services run outside requests (commands, the worker), so they keep the
    English text and the view that shows it asks the catalogue for it.
    """
    return message


class Term(str):
    """A parameter value that is itself a catalogue message (a cycle status, a kind of weights).

    It reads as its English text on the command line and is translated together
    with the message that carries it: ``parameters={"status": Term(N_("Draft"))}``.
    """


def sampling_text(error: SamplingError, translate: Callable[[str], str] = str) -> str:
    """A problem reported by :mod:`sampling`, in the reader's language.

    ``sampling`` marks its English templates with its own ``N_`` (the
    catalogue holds them) and keeps the values apart; ``translate`` is the
    view's ``gettext``.  The default keeps the English of the command line.
    """
    return error.text(translate)


def fill(template: str, parameters: Mapping[str, object], translate: Callable[[str], str]) -> str:
    """``template % parameters`` (``template`` already translated), with every
    :class:`Term` and every sampling error among the values translated too."""
    if not parameters:
        return template
    return template % {
        name: translate(value)
        if isinstance(value, Term)
        else sampling_text(value, translate)
        if isinstance(value, SamplingError)
        else value
        for name, value in parameters.items()
    }


#: A cycle's status as the catalogue words it (the msgids of survey.i18n.STATUS_LABELS).
STATUS_TERMS = {
    "draft": Term(N_("Draft")),
    "fielding": Term(N_("Fieldwork")),
    "closed": Term(N_("Closed")),
    "published": Term(N_("Published")),
    "final": Term(N_("Final")),
}


def status_term(status: object) -> Term:
    """The :class:`Term` of a cycle status (a ``CycleStatus`` or its value)."""
    value = str(getattr(status, "value", status))
    return STATUS_TERMS.get(value, Term(value))


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where (row, column/field) and what."""

    message: str
    row: int | None = None
    column: str | None = None
    #: Values for ``%(name)s`` placeholders in ``message`` (kept apart so that the
    #: catalogue can translate the fixed text).
    parameters: Mapping[str, object] = field(default_factory=dict)

    def text(self, translate: Callable[[str], str] = str) -> str:
        """The message, translated by ``translate`` and filled in."""
        return fill(translate(self.message), self.parameters, translate)

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column:
            where.append(f"column {self.column}")
        return f"{', '.join(where)}: {self.text()}" if where else self.text()


class ServiceError(Exception):
    """A request that cannot be carried out; nothing was changed."""

    def __init__(
        self,
        message: str,
        problems: Sequence[Problem] = (),
        *,
        parameters: Mapping[str, object] | None = None,
    ) -> None:
        self.parameters = dict(parameters or {})
        self.message = message % self.parameters if self.parameters else message
        #: the N_-marked text before its values are filled in (what a view translates)
        self.template = message
        super().__init__(self.message)
        self.problems = list(problems)

    def text(self, translate: Callable[[str], str] = str) -> str:
        """The message, translated by ``translate`` and filled in."""
        return fill(translate(self.template), self.parameters, translate)


class ValidationError(ServiceError):
    """Input that breaks a rule (weights not summing to 1, a bad import row …)."""


class TransitionError(ServiceError):
    """A cycle status change that is not allowed."""


class NotEditableError(ServiceError):
    """The object can no longer be changed (e.g. a cycle past its draft stage)."""
