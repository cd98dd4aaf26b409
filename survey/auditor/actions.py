"""Chinese names of the audit log's action codes (msgids in English, zh in messages.po).

Every code the application writes must have a name here:
tests/app/test_audit_log_page.py reads the codes out of ``survey/``'s source."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

ACTION_NAMES = {
    "appeal.decide": _l("Appeal decided"),
    "appeal.file": _l("Appeal filed"),
    "ballot.tokens": _l("Ballot tokens issued"),
    "category.create": _l("Category created"),
    "component.import": _l("Score components imported"),
    "cycle.create": _l("Cycle created"),
    "cycle.scale": _l("Cycle rating scale set"),
    "cycle.transition": _l("Cycle moved to the next stage"),
    "cycle.update": _l("Cycle updated"),
    "do_not_call.add": _l("Number added to the do-not-call list"),
    "frame.delete": _l("Frame deleted"),
    "frame.import": _l("Frame imported"),
    "frame.lock": _l("Frame locked (hash published)"),
    "item.create": _l("Questionnaire item created"),
    "keys.rotate": _l("Encryption keys rotated"),
    "official.add": _l("Official added"),
    "phone.appointment": _l("Phone appointment made"),
    "phone.cati_result": _l("CATI call result recorded"),
    "phone.dial": _l("Phone call placed"),
    "phone.quality_callback": _l("Quality call-back recorded"),
    "phone.recordings_deleted": _l("Call recordings deleted"),
    "phone.settings": _l("Phone settings changed"),
    "phone.skip_do_not_call": _l("Do-not-call number skipped"),
    "poster.activate": _l("Poster activated"),
    "poster.create": _l("Poster created"),
    "rectification.record": _l("Rectification recorded"),
    "response.submit": _l("Response submitted"),
    "results.publish": _l("Results published"),
    "sample.draw": _l("Sample drawn"),
    "sample.release_reserve": _l("Reserve sample released"),
    "unit.create": _l("Unit created"),
    "unit.import": _l("Units imported"),
    "user.create": _l("User created"),
    "user.update": _l("User updated"),
    "weights.components": _l("Component weights set"),
    "weights.items": _l("Item weights set"),
    "weights.rater_groups": _l("Rater group weights set"),
    "loop.purge_contacts": _l("Follow-up contacts purged"),
    "loop.rate": _l("Fix rated by the citizen"),
    "loop.working_days": _l("Working days for comments set"),
    "paper.counted": _l("Paper ballot counted"),
    "paper.disputed": _l("Paper ballot entries differ"),
    "paper.enter_first": _l("Paper ballot entered (first)"),
    "paper.resolved": _l("Paper ballot difference settled"),
    "phone.calling_day": _l("Calling day changed"),
    "response.void": _l("Response voided after review"),
    "review.draw": _l("Review sample drawn"),
    "review.result": _l("Review result recorded"),
    "roster.import": _l("Roster imported"),
    "roster.remind": _l("Reminders sent to listed raters"),
    "sms.batch": _l("SMS invitations sent"),
}


def action_name(code: str) -> str:
    """The action's Chinese name, or the code itself if it has none (e.g. old entries)."""
    name = ACTION_NAMES.get(code)
    return str(name) if name is not None else code
