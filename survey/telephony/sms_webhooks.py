"""SMS delivery-status callbacks (短信送达回执): Twilio's ``StatusCallback`` of a message.

Signed like every webhook of the blueprint (checked in
:func:`survey.telephony.check_signature`); the message id travels in the URL
handed to the provider, and the MessageSid must match the stored one.
"""

from __future__ import annotations

from flask import request

from survey.clock import now
from survey.extensions import db
from survey.security import MAX_URL_INTEGER
from survey.services import sms_invitations
from survey.telephony import bp


@bp.post("/sms/status")
def sms_status() -> tuple[str, int]:
    message_id = request.args.get("message", type=int)
    if message_id is None or not 0 < message_id <= MAX_URL_INTEGER:
        return "", 204
    stored = sms_invitations.apply_status(
        db.session,
        message_id,
        request.form.get("MessageSid", ""),
        request.form.get("MessageStatus") or request.form.get("SmsStatus", ""),
        request.form.get("ErrorCode") or None,
        now(),
    )
    if stored:
        db.session.commit()
    else:
        db.session.rollback()
    return "", 204
