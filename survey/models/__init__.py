"""The data model (DESIGN §4).  Import models from here."""

from survey.models.audit import AuditLogEntry
from survey.models.base import Base
from survey.models.cycle import (
    ALLOWED_TRANSITIONS,
    Cycle,
    CycleStatus,
    DontKnowHandling,
    ScalePreset,
)
from survey.models.questionnaire import Item, ScaleLevel
from survey.models.rater import RaterGroup, RaterGroupWeight, SamplingKind
from survey.models.response import Answer, Channel, Comment, Response
from survey.models.sampling import (
    DoNotCallEntry,
    DoNotCallSource,
    FieldworkCase,
    FrameContact,
    FrameStatus,
    SampleDraw,
    SamplingFrame,
)
from survey.models.scoring import ComponentWeight, ScoreComponent
from survey.models.unit import Unit, UnitCategory
from survey.models.user import Role, User

__all__ = [
    "ALLOWED_TRANSITIONS",
    "Answer",
    "AuditLogEntry",
    "Base",
    "Channel",
    "Comment",
    "ComponentWeight",
    "Cycle",
    "CycleStatus",
    "DoNotCallEntry",
    "DoNotCallSource",
    "DontKnowHandling",
    "FieldworkCase",
    "FrameContact",
    "FrameStatus",
    "Item",
    "RaterGroup",
    "RaterGroupWeight",
    "Response",
    "Role",
    "SampleDraw",
    "SamplingFrame",
    "SamplingKind",
    "ScaleLevel",
    "ScalePreset",
    "ScoreComponent",
    "Unit",
    "UnitCategory",
    "User",
]
