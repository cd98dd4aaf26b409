"""AAPOR outcome rates (回答率): response, cooperation, refusal and contact.

Formulas and disposition codes of AAPOR *Standard Definitions: Final
Dispositions of Case Codes and Outcome Rates for Surveys*, 10th edition
(2023).  Counts: I complete, P partial, R refusal and break-off, NC
non-contact, O other eligible non-interview, UH unknown if household/number
is eligible, UO unknown eligibility other, NE not eligible.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

from sampling.errors import N_, InputError


@dataclass(frozen=True)
class DispositionCounts:
    """Final disposition counts by AAPOR category (all non-negative)."""

    I: int = 0  # noqa: E741 - AAPOR's own symbol
    P: int = 0
    R: int = 0
    NC: int = 0
    O: int = 0  # noqa: E741
    UH: int = 0
    UO: int = 0
    NE: int = 0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, int) or value < 0:
                raise InputError(
                    N_("count %(name)s must be a non-negative integer, got %(value)r"),
                    code="rates.invalid_count",
                    parameters={"name": name, "value": value},
                )


@dataclass(frozen=True)
class ResponseRates:
    """AAPOR (2023) outcome rates; ``e`` is the eligibility estimate used."""

    e: float
    RR1: float
    RR2: float
    RR3: float
    RR4: float
    RR5: float
    RR6: float
    COOP1: float
    COOP2: float
    COOP3: float
    COOP4: float
    REF1: float
    REF2: float
    REF3: float
    CON1: float
    CON2: float
    CON3: float

    def as_dict(self) -> dict[str, float]:
        """Plain mapping of rate name to value."""
        return asdict(self)


def default_eligibility(counts: DispositionCounts) -> float:
    """AAPOR's default e: eligible share among cases of known eligibility.

    ``e = (I+P+R+NC+O) / (I+P+R+NC+O+NE)`` (the "proportional allocation" or
    CASRO method, AAPOR 2023 p. 63).
    """
    eligible = counts.I + counts.P + counts.R + counts.NC + counts.O
    known = eligible + counts.NE
    if known == 0:
        raise InputError(
            N_("no case of known eligibility: e cannot be estimated; give e explicitly"),
            code="rates.unknown_eligibility",
        )
    return eligible / known


def _ratio(numerator: float, denominator: float, name: str) -> float:
    if denominator <= 0:
        raise InputError(
            N_("%(rate)s is undefined: its denominator is zero (no eligible cases)"),
            code="rates.zero_denominator",
            parameters={"rate": name},
        )
    return numerator / denominator


def response_rates(counts: DispositionCounts, e: float | None = None) -> ResponseRates:
    """All AAPOR outcome rates from disposition counts.

    Parameters
    ----------
    counts
        Final disposition counts.
    e
        Estimated share of eligible cases among those of unknown eligibility;
        default :func:`default_eligibility`.

    Returns
    -------
    ResponseRates
        RR1–RR6, COOP1–4, REF1–3, CON1–3 (AAPOR 2023 pp. 61–65).
    """
    if e is None:
        e = default_eligibility(counts)
    if not 0.0 <= e <= 1.0:
        raise InputError(
            N_("e must be between 0 and 1, got %(e)s"),
            code="rates.invalid_eligibility",
            parameters={"e": e},
        )
    c = counts
    interviews = c.I + c.P
    eligible_non_interview = c.R + c.NC + c.O
    unknown = c.UH + c.UO
    base_all = interviews + eligible_non_interview + unknown
    base_e = interviews + eligible_non_interview + e * unknown
    base_known = interviews + eligible_non_interview
    contacted = interviews + c.R + c.O
    return ResponseRates(
        e=e,
        RR1=_ratio(c.I, base_all, "RR1"),
        RR2=_ratio(interviews, base_all, "RR2"),
        RR3=_ratio(c.I, base_e, "RR3"),
        RR4=_ratio(interviews, base_e, "RR4"),
        RR5=_ratio(c.I, base_known, "RR5"),
        RR6=_ratio(interviews, base_known, "RR6"),
        COOP1=_ratio(c.I, contacted, "COOP1"),
        COOP2=_ratio(interviews, contacted, "COOP2"),
        COOP3=_ratio(c.I, interviews + c.R, "COOP3"),
        COOP4=_ratio(interviews, interviews + c.R, "COOP4"),
        REF1=_ratio(c.R, base_all, "REF1"),
        REF2=_ratio(c.R, base_e, "REF2"),
        REF3=_ratio(c.R, base_known, "REF3"),
        CON1=_ratio(contacted, contacted + c.NC + unknown, "CON1"),
        CON2=_ratio(contacted, contacted + c.NC + e * unknown, "CON2"),
        CON3=_ratio(contacted, contacted + c.NC, "CON3"),
    )


def category_of_code(code: str) -> str:
    """AAPOR category (I, P, R, NC, O, UH, UO, NE) of a final disposition code.

    1.1 complete → I; 1.2 partial → P; 2.1x refusal and break-off → R; 2.2x
    non-contact → NC; 2.3x other (death, unable, language, …) → O; 3.1x
    unknown if housing unit / working number → UH; 3.2x and 3.9 unknown
    eligibility other → UO; 4.x not eligible → NE (AAPOR 2023 tables 1–4).
    """
    text = code.strip()
    major, _, minor = text.partition(".")
    if not major.isdigit() or (minor and not minor.isdigit()):
        raise InputError(
            N_("not an AAPOR disposition code: %(code)r"),
            code="rates.not_a_code",
            parameters={"code": code},
        )
    first = minor[:1]
    if major == "1" and first == "1":
        return "I"
    if major == "1" and first == "2":
        return "P"
    if major == "2" and first in ("1", "2", "3"):
        return {"1": "R", "2": "NC", "3": "O"}[first]
    if major == "3" and first == "1":
        return "UH"
    if major == "3" and first in ("2", "9"):
        return "UO"
    if major == "4":
        return "NE"
    raise InputError(
        N_("not an AAPOR final disposition code: %(code)r"),
        code="rates.not_a_final_code",
        parameters={"code": code},
    )


def counts_from_codes(code_counts: Mapping[str, int]) -> DispositionCounts:
    """Aggregate ``{AAPOR code: count}`` into :class:`DispositionCounts`."""
    totals = dict.fromkeys(("I", "P", "R", "NC", "O", "UH", "UO", "NE"), 0)
    for code, count in code_counts.items():
        if int(count) != count or count < 0:
            raise InputError(
                N_("count of code %(code)s must be a non-negative integer, got %(count)s"),
                code="rates.invalid_code_count",
                parameters={"code": code, "count": count},
            )
        totals[category_of_code(code)] += int(count)
    return DispositionCounts(**totals)
