"""HTTP errors: a Chinese-first page a citizen can act on; JSON under the API."""

from __future__ import annotations

from flask.testing import FlaskClient


def test_missing_page_is_a_chinese_page_with_security_headers(client: FlaskClient) -> None:
    response = client.get("/s/no-such-token-at-all/1/extra")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "页面不存在" in page and "重新扫码" in page
    assert "Not Found" not in page
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_error_page_follows_the_chosen_language(client: FlaskClient) -> None:
    page = client.get("/no/such/page?lang=en").get_data(as_text=True)
    assert "Page not found" in page and "scan the code again" in page


def test_oversized_public_body_is_explained(client: FlaskClient) -> None:
    response = client.post("/s/any-token/1", data={"comment": "x" * 200_000})
    assert response.status_code == 413
    assert "提交的内容过大" in response.get_data(as_text=True)


def test_api_errors_stay_json(client: FlaskClient) -> None:
    response = client.get("/api/results/not-a-cycle")
    assert response.status_code == 404
    body = response.get_json()
    assert body["status"] == 404 and body["error"] == "not_found" and body["message"]


def test_a_view_s_own_explanation_is_kept(client: FlaskClient) -> None:
    # The public-area guard aborts with its own translated description.
    response = client.get("/results/?q=%FF%FE")
    assert response.status_code == 400
    assert "网址中含有无效的文字字节" in response.get_data(as_text=True)
