"""An auditor in headless Chromium, CSRF on: the audit log's state and entries, a
draw verified with one click, its three downloads (CSV with a BOM for Excel)
verified again by upload and by ``python -m sampling verify`` with the same
verdict, and a tampered sample refused by both.  Any 4xx/5xx a click produces
fails the journey."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sampling.cli import main as sampling_cli
from tests.app.browser import sign_in, watch_errors
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser


def _download(page: Any, name: str, folder: Path) -> Path:
    with page.expect_download() as download_info:
        page.get_by_role("link", name=name).first.click()
    path = folder / name
    download_info.value.save_as(str(path))
    return path


def test_auditor_reads_the_log_and_verifies_a_draw(
    live_demo_server: LiveServer, page: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from survey.extensions import db
    from tests.app.respondent_helpers import prepare_fieldwork

    with live_demo_server.app.app_context():
        prepare_fieldwork(db.session)
        db.session.commit()
    base = live_demo_server.url
    failures: list[str] = []
    watch_errors(page, failures)
    sign_in(page, base, "auditor")
    page.wait_for_url(f"{base}/auditor/")
    assert "审计日志链完整" in page.locator("#chain-status").inner_text()
    page.get_by_role("link", name="查看审计日志").click()
    assert page.locator("table tbody tr").count() > 0
    assert "北京时间" in page.locator("table tbody").inner_text()
    page.go_back()

    page.locator("#draws").get_by_role("button", name="核验").first.click()
    assert "核验通过" in page.locator("#verdict").inner_text()
    page.go_back()

    files = [
        _download(page, name, tmp_path) for name in ("protocol.json", "frame.csv", "sample.csv")
    ]
    protocol, frame, sample = files
    assert frame.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel opens it in Chinese
    assert sample.read_bytes().startswith(b"\xef\xbb\xbf")
    assert sampling_cli(["verify", *map(str, files)]) == 0
    assert capsys.readouterr().out.strip() == "verified"

    form = page.locator("#verify-files")
    form.locator("input[name=protocol]").set_input_files(str(protocol))
    form.locator("input[name=frame]").set_input_files(str(frame))
    form.locator("input[name=sample]").set_input_files(str(sample))
    form.get_by_role("button", name="核验这些文件").click()
    assert "核验通过" in page.locator("#verdict").inner_text()

    # One sampled row swapped for a frame row that was not drawn.
    lines = sample.read_text(encoding="utf-8-sig").splitlines()
    drawn = {line.split(",")[0] for line in lines[1:]}
    outsider = next(
        line.split(",")[0]
        for line in frame.read_text(encoding="utf-8-sig").splitlines()[1:]
        if line.split(",")[0] not in drawn
    )
    lines[1] = ",".join([outsider, *lines[1].split(",")[1:]])
    tampered = tmp_path / "tampered.csv"
    tampered.write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")
    assert sampling_cli(["verify", str(protocol), str(frame), str(tampered)]) == 3
    cli_says = capsys.readouterr().err
    form = page.locator("#verify-files")
    form.locator("input[name=protocol]").set_input_files(str(protocol))
    form.locator("input[name=frame]").set_input_files(str(frame))
    form.locator("input[name=sample]").set_input_files(str(tampered))
    form.get_by_role("button", name="核验这些文件").click()
    verdict = page.locator("#verdict").inner_text()
    assert "核验未通过" in verdict and f"编号 '{outsider}' 不在抽样结果中" in verdict
    assert f"id '{outsider}' is not in the draw" in cli_says
    assert failures == []


def test_auditor_filters_pages_and_exports_the_audit_log(
    live_demo_server: LiveServer, page: Any, tmp_path: Path
) -> None:
    from survey.extensions import db
    from survey.services import audit

    with live_demo_server.app.app_context():
        for number in range(60):
            audit.record(
                db.session,
                actor="office",
                action="user.update",
                object_type="user",
                object_id=number,
                details={"n": number},
            )
        db.session.commit()
    base = live_demo_server.url
    failures: list[str] = []
    watch_errors(page, failures)
    sign_in(page, base, "auditor")
    page.wait_for_url(f"{base}/auditor/")
    # The verdict says when the full verification ran, in Beijing time.
    verdict = page.locator("#full-verdict").inner_text()
    assert "完整核验" in verdict and "北京时间" in verdict and "审计日志链完整" in verdict
    page.get_by_role("button", name="核验全部").click()  # POST with its CSRF token
    assert "此后没有新增条目" in page.locator("#tail-verdict").inner_text()

    page.get_by_role("link", name="查看审计日志").click()
    page.get_by_label("操作", exact=True).select_option("user.update")
    page.get_by_role("button", name="筛选").click()
    rows = page.locator("#log-entries tbody tr")
    assert rows.count() == 50
    assert all("修改用户 user.update" in text for text in rows.all_inner_texts())
    first_page = rows.first.inner_text()
    page.get_by_role("link", name="较早 →").click()
    rows = page.locator("#log-entries tbody tr")
    assert rows.count() >= 10 and rows.first.inner_text() != first_page
    assert all("user.update" in text for text in rows.all_inner_texts())

    with page.expect_download() as download_info:
        page.get_by_role("link", name="audit-log.csv").click()
    path = tmp_path / "audit-log.csv"
    download_info.value.save_as(str(path))
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("条目编号,时间,")
    body = lines[1:]
    assert len(body) >= 60 and all(",修改用户,user.update," in line for line in body)
    assert failures == []
