"""Printable material: QR codes that decode to the right link, posters, invitation cards."""

from __future__ import annotations

import csv
import io
import pathlib
import re
import shutil
import subprocess

import numpy as np
import pytest
import sqlalchemy as sa
import zxingcpp
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from survey.extensions import db
from survey.models import Cycle, CycleStatus, FieldworkCase, Poster, RaterGroup
from tests.app.helpers import login
from tests.app.respondent_helpers import prepare_fieldwork


def decode_qr(png: bytes) -> str:
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert len(results) == 1, "expected exactly one QR code"
    return str(results[0].text)


def test_pollster_creates_a_poster_and_downloads_its_printables(
    demo_app: Flask, demo_client: FlaskClient
) -> None:
    with demo_app.app_context():
        fieldwork = prepare_fieldwork(db.session)
    login(demo_client, "pollster")
    page = demo_client.get(f"/fieldwork/cycles/{fieldwork.cycle_id}/printables")
    assert page.status_code == 200 and "公开二维码海报" in page.get_data(as_text=True)
    with demo_app.app_context():
        unit_id = fieldwork.poster_unit_id
    created = demo_client.post(
        f"/fieldwork/cycles/{fieldwork.cycle_id}/posters",
        data={"unit_id": str(unit_id), "service_point": "二楼综合窗口"},
    )
    assert created.status_code == 302
    with demo_app.app_context():
        poster = db.session.scalars(
            sa.select(Poster).where(Poster.service_point == "二楼综合窗口")
        ).one()
        poster_id, code = poster.id, poster.code
    assert len(code) >= 11
    png = demo_client.get(f"/fieldwork/posters/{poster_id}/qr.png")
    assert png.mimetype == "image/png"
    assert decode_qr(png.data) == f"http://localhost/q/{code}"
    svg = demo_client.get(f"/fieldwork/posters/{poster_id}/qr.svg")
    assert svg.mimetype == "image/svg+xml" and b"<svg" in svg.data
    pdf = demo_client.get(f"/fieldwork/posters/{poster_id}/poster.pdf")
    assert pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    assert demo_client.get(f"/fieldwork/cycles/{fieldwork.cycle_id}/posters.pdf").data.startswith(
        b"%PDF"
    )
    # Switched off, the poster's link stops working.
    assert demo_client.post(f"/fieldwork/posters/{poster_id}/active").status_code == 302
    assert demo_client.get(f"/q/{code}").status_code == 404


def test_public_base_url_goes_into_the_codes(demo_app: Flask, demo_client: FlaskClient) -> None:
    with demo_app.app_context():
        fieldwork = prepare_fieldwork(db.session)
        poster_id = db.session.scalars(
            sa.select(Poster.id).where(Poster.code == fieldwork.poster_code)
        ).one()
    demo_app.config["PUBLIC_BASE_URL"] = "https://minyi.example.gov.cn/"
    login(demo_client, "pollster")
    png = demo_client.get(f"/fieldwork/posters/{poster_id}/qr.png").data
    assert decode_qr(png) == f"https://minyi.example.gov.cn/q/{fieldwork.poster_code}"


def test_invitation_csv_and_cards_hold_one_link_per_open_case(
    demo_app: Flask, demo_client: FlaskClient
) -> None:
    with demo_app.app_context():
        fieldwork = prepare_fieldwork(db.session)
    login(demo_client, "pollster")
    page = demo_client.get(f"/fieldwork/cycles/{fieldwork.cycle_id}/printables").get_data(
        as_text=True
    )
    draw_id = page.split("/fieldwork/draws/")[-1].split("/")[0]
    exported = demo_client.get(f"/fieldwork/draws/{draw_id}/invitations.csv")
    assert exported.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(exported.data.decode("utf-8-sig"))))
    assert [row["url"] for row in rows] == [f"http://localhost/s/{t}" for t in fieldwork.tokens]
    assert all(row["external_id"].startswith("T") for row in rows)
    assert "phone" not in rows[0]
    cards = demo_client.get(f"/fieldwork/draws/{draw_id}/invitations.pdf")
    assert cards.mimetype == "application/pdf" and cards.data.startswith(b"%PDF")
    assert cards.data.count(b"/Type /Page\n") + cards.data.count(b"/Type /Page ") >= 2


def test_printables_are_for_pollsters_and_admins_only(
    demo_app: Flask, demo_client: FlaskClient
) -> None:
    with demo_app.app_context():
        fieldwork = prepare_fieldwork(db.session)
    assert demo_client.get(f"/fieldwork/cycles/{fieldwork.cycle_id}/printables").status_code == 302
    login(demo_client, "liaison")
    assert demo_client.get(f"/fieldwork/cycles/{fieldwork.cycle_id}/printables").status_code == 403
    assert demo_client.get("/fieldwork/posters/1/qr.png").status_code == 403


def test_a_poster_for_an_unknown_unit_is_refused(demo_app: Flask, demo_client: FlaskClient) -> None:
    with demo_app.app_context():
        fieldwork = prepare_fieldwork(db.session)
        before = db.session.scalar(sa.select(sa.func.count()).select_from(Poster))
    login(demo_client, "admin")
    refused = demo_client.post(
        f"/fieldwork/cycles/{fieldwork.cycle_id}/posters",
        data={"unit_id": "999999", "service_point": ""},
    )
    assert refused.status_code == 400
    with demo_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Poster)) == before


def test_demo_prints_poster_and_invitation_links(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    poster_links = re.findall(r"http://127\.0\.0\.1:5000/q/([\w-]+)", result.output)
    assert len(poster_links) == 4
    with app.app_context():
        codes = set(db.session.scalars(sa.select(Poster.code)))
        assert set(poster_links) == codes
        fielding = db.session.scalars(
            sa.select(Cycle).where(Cycle.status == CycleStatus.FIELDING)
        ).one()
        citizens = db.session.scalars(
            sa.select(RaterGroup).where(
                RaterGroup.code == "citizens", RaterGroup.cycle_id == fielding.id
            )
        ).one()
        assert citizens.units_per_respondent == 4
        tokens = re.findall(r"http://127\.0\.0\.1:5000/s/([\w-]+)", result.output)
        assert len(tokens) == 3
        released = set(
            db.session.scalars(
                sa.select(FieldworkCase.token).where(FieldworkCase.released.is_(True))
            )
        )
        assert set(tokens) <= released


def test_vector_codes_redraw_every_module_exactly() -> None:
    from survey.services import printables

    for url in ("http://localhost/s/abc", "https://minyi.example.gov.cn/q/" + "x" * 40):
        modules = printables.qr_modules(url)
        redrawn = np.zeros_like(modules)
        for row, column, length in printables._dark_runs(modules):
            assert not redrawn[row, column : column + length].any()  # runs never overlap
            redrawn[row, column : column + length] = True
        assert (redrawn == modules).all()
        assert not modules[:4].any() and not modules[:, :4].any()  # quiet zone of 4 modules
        assert decode_qr(printables.qr_png(url, box_size=4)) == url


def test_card_text_wraps_inside_its_box_and_never_starts_a_line_with_punctuation() -> None:
    from reportlab.pdfbase import pdfmetrics

    from survey.services import printables

    font, size, width = printables.cjk_font(), 9.0, 120.0
    text = (
        "2026年度江州市经济社会发展综合考核暨领导班子和领导干部年度考核社会公认度测评。"
        "扫码用两分钟评价。"
    )
    lines = printables._wrap(text, font, size, width)
    assert "".join(lines) == text and len(lines) > 2
    widest_character = pdfmetrics.stringWidth("。", font, size)
    for line in lines:
        assert line[0] not in "，。、；：？！"
        assert pdfmetrics.stringWidth(line, font, size) <= width + widest_character


def test_a_sheet_of_cards_is_one_page_per_eight() -> None:
    from survey.services import printables

    cards = [
        printables.InvitationContent(f"http://localhost/s/t{i:04d}", f"R{i}", "2026年度考核", "")
        for i in range(17)
    ]
    pdf = printables.invitation_cards_pdf(cards)
    assert pdf == printables.invitation_cards_pdf(cards)  # byte-stable
    assert pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page ") == 3


def _sample_pdfs() -> dict[str, bytes]:
    from survey.services import printables

    poster = printables.PosterContent(
        "http://localhost/p/abc", "市行政审批服务局", "一楼大厅", "2026年度考核"
    )
    card = printables.InvitationContent("http://localhost/s/t0001", "R1", "2026年度考核", "")
    return {
        "posters": printables.posters_pdf([poster]),
        "cards": printables.invitation_cards_pdf([card]),
    }


def test_printed_pdfs_embed_their_chinese_font() -> None:
    """A reader without any Chinese font shows the same letters: the glyphs travel in the PDF."""
    for name, pdf in _sample_pdfs().items():
        # /FontFile2 is an embedded TrueType program; a CID font such as STSong-Light has none.
        assert b"/FontFile2" in pdf, name
        assert b"STSong" not in pdf, name
        assert b"WenQuanYiMicroHei" in pdf, name


def test_printed_pdfs_are_byte_stable_across_processes() -> None:
    """Same input, same bytes, even from a fresh interpreter (font subsets are named stably)."""
    import hashlib
    import subprocess
    import sys

    script = (
        "import hashlib; from tests.app.test_respondent_printables import _sample_pdfs; "
        "print(*(hashlib.sha256(p).hexdigest() for p in _sample_pdfs().values()))"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    }
    here = " ".join(hashlib.sha256(p).hexdigest() for p in _sample_pdfs().values()) + "\n"
    assert runs == {here}


def _words_outside_the_page(pdf: bytes, tmp_path: pathlib.Path) -> list[str]:
    """Words that poppler lays out (partly) beyond the A4 page's edges."""
    source = tmp_path / "poster.pdf"
    source.write_bytes(pdf)
    html = subprocess.run(
        ["pdftotext", "-bbox", str(source), "-"], capture_output=True, text=True, check=True
    ).stdout
    pages = re.findall(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', html, re.S)
    assert pages
    outside = []
    for page_width, page_height, words in pages:
        for x_min, y_min, x_max, y_max, word in re.findall(
            r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>',
            words,
        ):
            if (
                min(float(x_min), float(y_min)) < 0
                or float(x_max) > float(page_width)
                or float(y_max) > float(page_height)
            ):
                outside.append(word)
    return outside


@pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="needs poppler-utils (.ci/run installs it)"
)
def test_long_unit_names_on_posters_wrap_inside_the_page(tmp_path: pathlib.Path) -> None:
    from survey.services import printables

    long_name = "江州市人民政府办公室行政审批制度改革和优化营商环境工作领导小组办公室政务服务中心"
    poster = printables.PosterContent(
        "http://localhost/p/abc",
        long_name,
        "二楼东侧不动产登记与税务联合办理综合服务窗口" * 2,
        "2026年度江州市经济社会发展综合考核暨领导班子和领导干部年度考核社会公认度测评",
    )
    pdf = printables.posters_pdf([poster])
    assert _words_outside_the_page(pdf, tmp_path) == []
    text = subprocess.run(
        ["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    assert long_name in text.replace("\n", "")
