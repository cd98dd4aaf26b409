"""The public results read well on a 360-px phone and a 1366-px desktop (issue #24).

For every category page of the published demo cycle, at both widths: the page never
scrolls sideways, and no table cell wraps per character (排/名, 一/等, a unit's name
one character a line).  ``MINYI_SCREENSHOT_DIR=docs/screenshots`` also writes the
screenshots that docs/results.md shows.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

#: For each visible table cell with two or more characters: how many lines its text
#: takes (distinct tops of the text's line boxes).  A cell wraps per character when
#: its lines hold fewer than two characters on average.
CELLS_WRAPPED_PER_CHARACTER = """
(selector) => {
  const found = [];
  for (const cell of document.querySelectorAll(selector)) {
    if (!cell.offsetParent) continue;
    const text = cell.innerText.replace(/\\s+/g, '');
    if (text.length < 2) continue;
    const range = document.createRange();
    range.selectNodeContents(cell);
    const tops = new Set();
    for (const rect of range.getClientRects()) {
      if (rect.width > 0 && rect.height > 0) tops.add(Math.round(rect.top));
    }
    if (tops.size >= 2 && text.length / tops.size < 2) {
      found.push(`${cell.tagName} "${text}" on ${tops.size} lines`);
    }
  }
  return found;
}
"""

WIDTHS = {"phone": (360, 740), "desktop": (1366, 900)}


@pytest.mark.parametrize("device", sorted(WIDTHS))
def test_results_pages_fit_the_screen(
    live_results_server: LiveServer, chromium: Any, device: str
) -> None:
    width, height = WIDTHS[device]
    context = chromium.new_context(locale="zh-CN", viewport={"width": width, "height": height})
    try:
        page = context.new_page()
        page.goto(f"{live_results_server.url}/results/")
        page.get_by_role("link", name="2025年度江州市综合考核").click()
        page.wait_for_url("**/county")
        categories = page.locator("nav.tabs a").evaluate_all("links => links.map(l => l.href)")
        assert len(categories) == 8
        for url in categories:
            page.goto(url)
            page.locator("details summary").first.click()  # the rater groups' table too
            assert page.evaluate("document.documentElement.scrollWidth") <= width, url
            # The ranking itself fits: on a phone its rows are cards, not a scrolled table.
            table = page.locator("#results-table")
            assert table.evaluate("t => t.getBoundingClientRect().right") <= width, url
            wrapped = page.evaluate(
                CELLS_WRAPPED_PER_CHARACTER, "table.ranking th, table.ranking td"
            )
            assert wrapped == [], (url, wrapped)
            if device == "desktop":
                groups = page.evaluate(
                    CELLS_WRAPPED_PER_CHARACTER, "table.groups th, table.groups td"
                )
                assert groups == [], (url, groups)
        page.goto(categories[0])
        card = page.locator("#results-table tbody tr").first
        if device == "phone":
            # Rank, unit and grade on the card's first line; the rest labelled below it.
            first_line = {
                cell: card.locator(f"td.{cell}").bounding_box()["y"]  # type: ignore[index]
                for cell in ("rank", "unit", "grade")
            }
            assert max(first_line.values()) - min(first_line.values()) < 4, first_line
            below = card.locator("td.number").first.bounding_box()["y"]  # type: ignore[index]
            assert below > first_line["rank"] + 4
            label = card.locator("td.number").first.get_attribute("data-label")
            assert label == "综合得分"
        else:
            assert page.locator("#results-table thead").is_visible()
        folder = os.environ.get("MINYI_SCREENSHOT_DIR")
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(folder) / f"results-{width}.png"))
    finally:
        context.close()
