"""Printable material (印刷品): QR codes, A4 posters, invitation cards and mail-merge CSV.

QR codes come from the ``qrcode`` package (SVG for print shops, PNG for
screens); PDFs from ReportLab with its built-in CID font ``STSong-Light``, so
Chinese prints without shipping font files.  Everything is generated on the
server from the database; nothing here writes to it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import qrcode
import qrcode.image.svg
from qrcode.constants import ERROR_CORRECT_M
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from survey.services.tabular import csv_text

CJK_FONT = "STSong-Light"


def _qr(url: str) -> qrcode.QRCode:  # type: ignore[type-arg]
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=10, border=4)
    code.add_data(url)
    code.make(fit=True)
    return code


def qr_png(url: str, box_size: int = 10) -> bytes:
    """A PNG QR code of ``url`` (black on white, quiet zone of 4 modules)."""
    code = _qr(url)
    code.box_size = box_size
    image = code.make_image(fill_color="black", back_color="white")
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue()


def qr_svg(url: str) -> bytes:
    """An SVG QR code of ``url``: scales to any print size without blur."""
    image = _qr(url).make_image(image_factory=qrcode.image.svg.SvgPathImage)
    return bytes(image.to_string(encoding="utf-8"))


@dataclass(frozen=True)
class PosterContent:
    url: str
    unit_name: str
    service_point: str
    cycle_name: str


@dataclass(frozen=True)
class InvitationContent:
    url: str
    external_id: str
    cycle_name: str
    valid_until: str


def _font() -> str:
    if CJK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
    return CJK_FONT


def _centred(pdf: canvas.Canvas, text: str, y: float, size: float) -> None:
    pdf.setFont(_font(), size)
    pdf.drawCentredString(A4[0] / 2, y, text)


def posters_pdf(posters: Sequence[PosterContent]) -> bytes:
    """One A4 page per poster: the unit, the invitation to rate, a large QR code."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=True)
    pdf.setTitle("minyi posters")
    width, height = A4
    for poster in posters:
        _centred(pdf, "请您评价我们的服务", height - 40 * mm, 30)
        _centred(pdf, poster.unit_name, height - 58 * mm, 22)
        if poster.service_point:
            _centred(pdf, poster.service_point, height - 68 * mm, 14)
        size = 120 * mm
        pdf.drawImage(
            ImageReader(io.BytesIO(qr_png(poster.url))),
            (width - size) / 2,
            height - 80 * mm - size,
            size,
            size,
        )
        y = height - 215 * mm
        for line in (
            "用手机扫一扫，两分钟完成评价",
            "刚刚在这里办理业务的群众，欢迎参与。",
            "手机号仅用于发送验证码、防止重复评价，不与您的评价一起保存。",
            "留言转交前自动隐去电话、证件号码和大部分人名。",
        ):
            _centred(pdf, line, y, 13)
            y -= 9 * mm
        pdf.setFont(_font(), 9)
        pdf.drawCentredString(width / 2, 15 * mm, f"{poster.cycle_name} · {poster.url}")
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def invitation_cards_pdf(invitations: Sequence[InvitationContent]) -> bytes:
    """Invitation cards, eight to an A4 page (2 × 4), each with its own QR code and link."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=True)
    pdf.setTitle("minyi invitations")
    width, height = A4
    card_width, card_height = width / 2, height / 4
    for index, invitation in enumerate(invitations):
        if index and index % 8 == 0:
            pdf.showPage()
        column, row = index % 2, (index % 8) // 2
        left = column * card_width
        top = height - row * card_height
        pdf.setDash(2, 3)
        pdf.rect(
            left + 4 * mm, top - card_height + 4 * mm, card_width - 8 * mm, card_height - 8 * mm
        )
        pdf.setFont(_font(), 13)
        pdf.drawString(left + 10 * mm, top - 14 * mm, "民意调查邀请")
        pdf.setFont(_font(), 9)
        lines = (
            "您被随机抽中参加",
            invitation.cycle_name,
            "扫码用两分钟评价政府部门的工作。",
            f"有效期至 {invitation.valid_until}" if invitation.valid_until else "调查结束前有效",
            "链接仅限本人使用一次，回答匿名。",
        )
        y = top - 22 * mm
        for line in lines:
            pdf.drawString(left + 10 * mm, y, line)
            y -= 5 * mm
        pdf.setFont("Helvetica", 6)
        pdf.drawString(left + 10 * mm, top - card_height + 9 * mm, invitation.url)
        pdf.drawString(left + 10 * mm, top - card_height + 13 * mm, f"No. {invitation.external_id}")
        size = 40 * mm
        pdf.drawImage(
            ImageReader(io.BytesIO(qr_png(invitation.url, box_size=6))),
            left + card_width - 8 * mm - size,
            top - 8 * mm - size,
            size,
            size,
        )
    pdf.save()
    return buffer.getvalue()


def invitations_csv(invitations: Sequence[InvitationContent]) -> bytes:
    """Mail-merge CSV (UTF-8 with BOM, so Excel opens it in Chinese).

    Only the frame's external id and the link: the pollster joins them with
    its own address list, so no phone number or address leaves minyi here.
    """
    rows = [
        [invitation.external_id, invitation.url, invitation.cycle_name, invitation.valid_until]
        for invitation in invitations
    ]
    text = csv_text([["external_id", "url", "cycle", "valid_until"], *rows], lineterminator="\r\n")
    return ("\ufeff" + text).encode("utf-8")
