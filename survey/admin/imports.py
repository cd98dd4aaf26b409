"""The two steps every import takes in the browser: upload → preview → confirm.

Uploading checks the whole file by running the import and rolling it back, then
shows the preview (encoding, which column is which field, the first rows, the
row count, every row error).  Nothing is stored until the confirm post, which
names the waiting upload by its token (:mod:`survey.services.uploads`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from flask import current_app, render_template
from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms.validators import DataRequired

from survey.admin.common import report
from survey.auth.access import current_session_id, current_user
from survey.extensions import db
from survey.privacy import vault
from survey.services.errors import ServiceError
from survey.services.tabular import Preview, preview
from survey.services.uploads import PendingUpload, UploadStore


class ConfirmImportForm(FlaskForm):
    token = HiddenField(validators=[DataRequired()])


def upload_store() -> UploadStore:
    folder = current_app.config.get("IMPORT_PENDING_FOLDER") or (
        Path(current_app.instance_path) / "pending-imports"
    )
    sealer = vault()
    return UploadStore(Path(folder), seal=sealer.seal, unseal=sealer.unseal)


def owner() -> str:
    """Who may confirm: this user in this sign-in (a token is useless elsewhere)."""
    user = current_user()
    return f"{user.id if user else 0}:{current_session_id() or 0}"


def pending(token: str, kind: str) -> PendingUpload:
    return upload_store().get(token, owner(), kind)


def preview_page(
    *,
    kind: str,
    title: str,
    filename: str,
    data: bytes,
    encoding: str,
    fields: Mapping[str, str],
    mapped: Callable[[], Mapping[str, str]],
    dry_run: Callable[[], object],
    confirm_url: str,
    back_url: str,
) -> tuple[str, int]:
    """Check the upload by ``dry_run`` (rolled back) and show its preview.

    A clean file waits in the store under a new token and the page asks for
    confirmation; a file with problems gets them listed and no confirm button.
    """
    refused = False
    try:
        dry_run()
    except ServiceError as error:
        report(error)  # rolls back
        refused = True
    else:
        db.session.rollback()
    try:
        labels = mapped()
    except ServiceError:
        labels = {}
    shown: Preview | None
    try:
        shown = preview(filename, data, encoding, labels)
    except ServiceError:
        shown = None  # unreadable: the messages above say why
    token = None
    if not refused:
        token = upload_store().put(owner(), kind, filename, data, fields)
    form = ConfirmImportForm(formdata=None, data={"token": token or ""})
    page = render_template(
        "imports/preview.html",
        title=title,
        preview=shown,
        refused=refused,
        form=form,
        confirm_url=confirm_url,
        back_url=back_url,
    )
    return page, 400 if refused else 200
