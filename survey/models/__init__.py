"""The data model (DESIGN §4).  Import models from here."""

from survey.models.audit import AuditCheckpoint, AuditLogEntry, AuditVerification
from survey.models.base import Base
from survey.models.collection import Poster, PosterVerification, ResponseDraft
from survey.models.cycle import (
    ALLOWED_TRANSITIONS,
    Cycle,
    CycleStatus,
    DontKnowHandling,
    ScalePreset,
)
from survey.models.fieldwork_qc import (
    InterviewReview,
    ReviewDraw,
    ReviewStatus,
    SmsMessage,
    SmsStatus,
    VoidedResponse,
)
from survey.models.listed import ListedRater, PaperBallot, PaperStatus
from survey.models.loop import FollowUp, FollowUpContact
from survey.models.questionnaire import Item, ScaleLevel
from survey.models.rater import RaterGroup, RaterGroupWeight, SamplingKind
from survey.models.response import Answer, Channel, Comment, Response
from survey.models.results import (
    Appeal,
    AppealAttachment,
    AppealStatus,
    Ballot,
    BallotToken,
    BallotVote,
    ComponentImport,
    ComponentValue,
    Official,
    Rectification,
    ResultSnapshot,
)
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
from survey.models.telephony import (
    CallAttempt,
    CallbackStatus,
    CallingDayOverride,
    CallMode,
    CaseSchedule,
    IvrStep,
    PhoneSettings,
    QualityCallback,
    ScheduleState,
)
from survey.models.unit import Unit, UnitCategory
from survey.models.user import Role, StaffSession, User

__all__ = [
    "ALLOWED_TRANSITIONS",
    "Answer",
    "Appeal",
    "AppealAttachment",
    "AppealStatus",
    "AuditCheckpoint",
    "AuditLogEntry",
    "AuditVerification",
    "Ballot",
    "BallotToken",
    "BallotVote",
    "Base",
    "CallAttempt",
    "CallMode",
    "CallbackStatus",
    "CallingDayOverride",
    "CaseSchedule",
    "Channel",
    "Comment",
    "ComponentImport",
    "ComponentValue",
    "ComponentWeight",
    "Cycle",
    "CycleStatus",
    "DoNotCallEntry",
    "DoNotCallSource",
    "DontKnowHandling",
    "FieldworkCase",
    "FollowUp",
    "FollowUpContact",
    "FrameContact",
    "FrameStatus",
    "InterviewReview",
    "Item",
    "IvrStep",
    "ListedRater",
    "Official",
    "PaperBallot",
    "PaperStatus",
    "PhoneSettings",
    "Poster",
    "PosterVerification",
    "QualityCallback",
    "RaterGroup",
    "RaterGroupWeight",
    "Rectification",
    "Response",
    "ResponseDraft",
    "ResultSnapshot",
    "ReviewDraw",
    "ReviewStatus",
    "Role",
    "SampleDraw",
    "SamplingFrame",
    "SamplingKind",
    "ScaleLevel",
    "ScalePreset",
    "ScheduleState",
    "ScoreComponent",
    "SmsMessage",
    "SmsStatus",
    "StaffSession",
    "Unit",
    "UnitCategory",
    "User",
    "VoidedResponse",
]
