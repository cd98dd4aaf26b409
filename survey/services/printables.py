"""Printable material (印刷品): QR codes, A4 posters, invitation cards and mail-merge CSV.

QR codes are encoded by zxing-cpp (error correction level M, the mask chosen
by the standard's penalty rules, in C++: 2,400 invitation cards take seconds,
where a pure-Python encoder took over a minute) and drawn by us from the
module matrix: an SVG path for print shops, a PNG for screens, vector squares
in PDFs.  PDFs come from ReportLab and embed their Chinese font (文泉驿微米黑,
WenQuanYi Micro Hei, Apache-2.0, TrueType outlines, shipped by the
``paperang-p2-fonts-cjk`` wheel): ReportLab embeds only the glyphs a document
uses, so a print shop's or a citizen's reader shows the same letters without
having any Chinese font of its own.  Everything is generated on the server
from the database; nothing here writes to it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np
import zxingcpp
from numpy.typing import NDArray
from PIL import Image
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from survey.services.tabular import csv_text

CJK_FONT = "WenQuanYiMicroHei"
# ReportLab embeds TrueType (glyf) outlines only, not the CFF outlines of Noto/Source Han.
CJK_FONT_FILE = resources.files("paperang_p2_fonts_cjk") / "fonts" / "wqy-microhei.ttc"


def qr_modules(url: str) -> NDArray[np.bool_]:
    """The QR code of ``url`` as a square of modules (True = dark), quiet zone of 4 included."""
    barcode = zxingcpp.create_barcode(url, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    image = np.asarray(zxingcpp.write_barcode_to_image(barcode, scale=1, add_quiet_zones=True))
    return image < 128


def _dark_runs(modules: NDArray[np.bool_]) -> list[tuple[int, int, int]]:
    """Horizontal runs of dark modules as (row, first column, length), row by row."""
    edges = np.diff(np.pad(modules, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    starts, ends = np.argwhere(edges == 1), np.argwhere(edges == -1)
    rows, columns = starts[:, 0].tolist(), starts[:, 1].tolist()
    return list(zip(rows, columns, (ends[:, 1] - starts[:, 1]).tolist(), strict=True))


class _Squares:
    """A filled PDF path of whole module squares, written in module units.

    ReportLab's path object formats every coordinate as a float in Python; a
    card sheet holds hundreds of thousands of squares, so the integer operators
    are written here once and the page's transformation scales them.
    """

    def __init__(self, runs: list[tuple[int, int, int]]) -> None:
        self.code = " ".join(f"{column} {row} {length} 1 re" for row, column, length in runs)

    def getCode(self) -> str:  # the name ReportLab's drawPath calls
        return self.code


def qr_png(url: str, box_size: int = 10) -> bytes:
    """A PNG QR code of ``url`` (black on white, ``box_size`` pixels a module)."""
    modules = qr_modules(url)
    pixels = np.where(np.kron(modules, np.ones((box_size, box_size), dtype=bool)), 0, 255)
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8), mode="L").convert("1").save(buffer, format="PNG")
    return buffer.getvalue()


def qr_svg(url: str) -> bytes:
    """An SVG QR code of ``url``: one path, scales to any print size without blur."""
    modules = qr_modules(url)
    size = modules.shape[0]
    path = "".join(
        f"M{column} {row}h{length}v1h-{length}z" for row, column, length in _dark_runs(modules)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" '
        f'width="{size * 10}" height="{size * 10}" shape-rendering="crispEdges">'
        f'<rect width="{size}" height="{size}" fill="#fff"/><path d="{path}" fill="#000"/></svg>'
    ).encode()


def _draw_qr(pdf: canvas.Canvas, url: str, left: float, bottom: float, size: float) -> None:
    """Vector squares: sharp at any zoom and far lighter than an image per code."""
    modules = qr_modules(url)
    module = size / modules.shape[0]
    pdf.saveState()
    # Module units, rows counted downwards from the code's top edge.
    pdf.transform(module, 0, 0, -module, left, bottom + size)
    pdf.drawPath(_Squares(_dark_runs(modules)), stroke=0, fill=1)  # type: ignore[arg-type]
    pdf.restoreState()


# Closing punctuation never starts a line (避头点): it hangs past the line's end instead.
_NO_LINE_START = frozenset("，。、；：？！）》」』”’…,.;:?!)")


def _wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """Break ``text`` into lines no wider than ``width`` (Chinese breaks between any characters).

    A closing punctuation mark that does not fit hangs past ``width``, so leave
    room for one character after the box.
    """
    lines: list[str] = []
    line = ""
    for character in text:
        too_wide = pdfmetrics.stringWidth(line + character, font, size) > width
        if line and too_wide and character not in _NO_LINE_START:
            lines.append(line)
            line = character.lstrip()
        else:
            line += character
    return [*lines, line] if line else lines


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


def cjk_font() -> str:
    """The embedded CJK font's name in ReportLab, registered on first use."""
    if CJK_FONT not in pdfmetrics.getRegisteredFontNames():
        with resources.as_file(CJK_FONT_FILE) as path:
            pdfmetrics.registerFont(TTFont(CJK_FONT, str(path), subfontIndex=0))
    return CJK_FONT


def _centred(pdf: canvas.Canvas, text: str, y: float, size: float) -> None:
    pdf.setFont(cjk_font(), size)
    pdf.drawCentredString(A4[0] / 2, y, text)


def _centred_block(
    pdf: canvas.Canvas, text: str, y: float, sizes: Sequence[float], max_lines: int
) -> float:
    """Centred, wrapped within the poster's margins at the first size that needs at most
    ``max_lines`` lines (the smallest size wraps to as many as it takes: never cut off).

    Returns the baseline of the last line drawn.
    """
    width = A4[0] - 2 * _POSTER_MARGIN
    for size in sizes:
        lines = _wrap(text, cjk_font(), size, width)
        if len(lines) <= max_lines:
            break
    for number, line in enumerate(lines):
        y_line = y - number * size * 1.25
        _centred(pdf, line, y_line, size)
    return y - (len(lines) - 1) * size * 1.25


# Room for one hanging punctuation mark (see _wrap) is left inside the paper's edge.
_POSTER_MARGIN = 20 * mm


def posters_pdf(posters: Sequence[PosterContent]) -> bytes:
    """One A4 page per poster: the unit, the invitation to rate, a large QR code."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=True, pageCompression=1)
    pdf.setTitle("minyi posters")
    width, height = A4
    for poster in posters:
        _centred(pdf, "请您评价我们的服务", height - 40 * mm, 30)
        # A long unit name takes two smaller lines instead of running off the paper.
        one_line = len(_wrap(poster.unit_name, cjk_font(), 22, width - 2 * _POSTER_MARGIN)) == 1
        y = _centred_block(
            pdf, poster.unit_name, height - (58 if one_line else 54) * mm, (22, 18, 15, 12), 2
        )
        if poster.service_point:
            _centred_block(pdf, poster.service_point, y - 10 * mm, (14, 12, 10, 8), 1)
        size = 120 * mm
        _draw_qr(pdf, poster.url, (width - size) / 2, height - 80 * mm - size, size)
        y = height - 215 * mm
        for line in (
            "用手机扫一扫，两分钟完成评价",
            "刚刚在这里办理业务的群众，欢迎参与。",
            "手机号仅用于发送验证码、防止重复评价，不与您的评价一起保存。",
            "留言转交前自动隐去电话、证件号码和大部分人名。",
        ):
            _centred(pdf, line, y, 13)
            y -= 9 * mm
        _centred_block(pdf, f"{poster.cycle_name} · {poster.url}", 18 * mm, (9, 8, 7, 6), 1)
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def _draw_card_text(
    pdf: canvas.Canvas,
    paragraphs: Sequence[str],
    *,
    left: float,
    top: float,
    width: float,
    bottom: float,
) -> None:
    """Wrap the card's text into its box, stepping the size down until all of it fits."""
    for size in (9.0, 8.0, 7.0, 6.0, 5.0):
        leading = size * 1.5
        lines = [
            line for paragraph in paragraphs for line in _wrap(paragraph, cjk_font(), size, width)
        ]
        if top - (len(lines) - 1) * leading >= bottom:
            break
    pdf.setFont(cjk_font(), size)
    for number, line in enumerate(lines):
        pdf.drawString(left, top - number * leading, line)


def invitation_cards_pdf(invitations: Sequence[InvitationContent]) -> bytes:
    """Invitation cards, eight to an A4 page (2 × 4), each with its own QR code and link."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=True, pageCompression=1)
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
        pdf.setFont(cjk_font(), 13)
        pdf.drawString(left + 10 * mm, top - 14 * mm, "民意调查邀请")
        _draw_card_text(
            pdf,
            (
                "您被随机抽中参加",
                invitation.cycle_name,
                "扫码用两分钟评价政府部门的工作。",
                f"有效期至 {invitation.valid_until}"
                if invitation.valid_until
                else "调查结束前有效",
                "链接仅限本人使用一次，回答匿名。",
            ),
            left=left + 10 * mm,
            top=top - 22 * mm,
            width=card_width - 64 * mm,  # 4 mm for hanging punctuation before the code
            bottom=top - card_height + 17 * mm,
        )
        pdf.setFont("Helvetica", 6)
        pdf.drawString(left + 10 * mm, top - card_height + 9 * mm, invitation.url)
        pdf.drawString(left + 10 * mm, top - card_height + 13 * mm, f"No. {invitation.external_id}")
        size = 40 * mm
        _draw_qr(pdf, invitation.url, left + card_width - 8 * mm - size, top - 8 * mm - size, size)
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
