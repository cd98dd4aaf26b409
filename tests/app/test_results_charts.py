"""Charts of published results: inline SVG with a text alternative (issue #24)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from typing import Any

from survey.results import charts

SVG = "{http://www.w3.org/2000/svg}"
TEXTS = {
    "title": "%(category)s %(level)s",
    "description": "%(category)s at %(level)s: ",
    "unit_item": "%(name)s %(score)s (%(low)s–%(high)s) %(grade)s",
    "separator": "; ",
    "separator_inner": ", ",
    "end": ".",
    "category_item": "%(category)s: %(counts)s",
    "count_item": "%(grade)s %(count)s",
    "year_item": "%(year)s %(score)s",
}
LABELS = {"first": "一等", "second": "二等", "third": "三等"}
ORDER = ["first", "second", "third"]


def unit(code: str, name: str, rank: int, score: float, grade: str) -> dict[str, Any]:
    return {
        "unit": code,
        "name": name,
        "rank": rank,
        "grade": grade,
        "total": {"estimate": score, "ci_low": score - 1.5, "ci_high": score + 1.0},
    }


CATEGORY = {
    "code": "county",
    "name": "县市区",
    "units": [
        unit("C1", "西城区", 1, 90.0, "first"),
        unit("C2", "临江县", 2, 85.5, "second"),
        unit("C3", "云溪县", 3, 84.0, "second"),
        unit("C4", "A<b>&县", 4, 70.25, "third"),
    ],
}


def parse(markup: Any) -> ElementTree.Element:
    return ElementTree.fromstring(str(markup))


def test_score_chart_draws_every_unit_in_order_on_grade_bands() -> None:
    svg = parse(
        charts.score_chart(
            CATEGORY, grade_labels=LABELS, grade_order=ORDER, level=0.95, texts=TEXTS
        )
    )
    assert svg.get("role") == "img"
    title, desc = svg.find(f"{SVG}title"), svg.find(f"{SVG}desc")
    assert title is not None and desc is not None
    assert svg.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    # The text alternative holds every figure the chart draws.
    assert desc.text == (
        "县市区 at 95: 西城区 90.00 (88.50–91.00) 一等; 临江县 85.50 (84.00–86.50) 二等; "
        "云溪县 84.00 (82.50–85.00) 二等; A<b>&县 70.25 (68.75–71.25) 三等."
    )
    points = [float(circle.get("cx", "nan")) for circle in svg.iter(f"{SVG}circle")]
    assert len(points) == 4 and points == sorted(
        points, reverse=True
    )  # higher score, further right
    whiskers = [line for line in svg.iter(f"{SVG}line") if line.get("stroke-width") == "2"]
    for whisker, point in zip(whiskers, points, strict=True):
        assert float(whisker.get("x1", "nan")) < point < float(whisker.get("x2", "nan"))
    # One band per run of one grade: first, second (two units), third.
    bands = [rect for rect in svg.iter(f"{SVG}rect")]
    assert [float(rect.get("height", "0")) for rect in bands] == [22.0, 44.0, 22.0]
    # Names are escaped, never markup.
    assert "A<b>&县" in "".join(svg.itertext())


def test_grade_distribution_counts_units_per_grade() -> None:
    other = {"code": "party", "name": "党委部门", "units": [unit("P1", "组织部", 1, 80, "first")]}
    svg = parse(
        charts.grade_distribution_chart(
            [CATEGORY, other],
            grade_labels=LABELS,
            grade_order=ORDER,
            texts={**TEXTS, "description": ""},
        )
    )
    desc = svg.find(f"{SVG}desc")
    assert desc is not None
    assert desc.text == "县市区: 一等 1, 二等 2, 三等 1; 党委部门: 一等 1."
    widths = [
        float(rect.get("width", "0")) for rect in svg.iter(f"{SVG}rect") if rect.get("y") != "6"
    ]
    # Bars are proportional to counts: the category of four is four times the single unit.
    assert abs(sum(widths[:3]) - 4 * widths[3]) < 0.5


def test_history_chart_needs_two_years_and_leaves_gaps() -> None:
    history = {2025: {"C1": 88.0, "C2": 84.0}, 2026: {"C1": 90.0, "C2": 85.5, "C3": 84.0}}
    texts = {
        **TEXTS,
        "title": "%(category)s",
        "unit_item": "%(name)s %(series)s",
        "description": "%(category)s: ",
    }
    assert charts.history_chart(CATEGORY, {2026: history[2026]}, texts=texts) is None
    svg = parse(charts.history_chart(CATEGORY, history, texts=texts))
    lines = list(svg.iter(f"{SVG}polyline"))
    assert [len(line.get("points", "").split()) for line in lines] == [2, 2, 1]  # C3 is new
    desc = svg.find(f"{SVG}desc")
    assert desc is not None and desc.text is not None
    assert "西城区 2025 88.00, 2026 90.00" in desc.text and "云溪县 2026 84.00" in desc.text
    assert "A<b>&县" not in desc.text  # no published score in any year


def test_category_page_shows_the_charts_in_chinese(results_app: Any) -> None:
    page = results_app.test_client().get("/results/", follow_redirects=True)
    link = re.search(r'href="(/results/\d+/)"', page.get_data(as_text=True))
    assert link is not None
    html = (
        results_app.test_client().get(link.group(1), follow_redirects=True).get_data(as_text=True)
    )
    assert html.count('<svg class="chart"') == 2  # scores and grades; one year: no history
    assert "县市区：综合得分及95%置信区间" in html
    assert re.search(
        r"<desc [^>]*>县市区各单位按名次排列的综合得分、95%置信区间和等次：[^<]+一等", html
    )
    assert "各类别每个等次的单位数：县市区：一等 1个" in html
