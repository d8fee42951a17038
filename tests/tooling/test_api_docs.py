"""The local API's /docs: Swagger UI's page and assets, and the OpenAPI document with
its servers entry pointing at the API that serves it (the page in a browser:
tests/e2e/test_api_docs_in_browser.py)."""

import json

from devtools import api_docs


def _answer(path: str, host: str = "h") -> api_docs.Answer:
    answer = api_docs.answer(path, host)
    assert answer is not None, path
    return answer


def test_the_document_is_the_committed_one_served_for_the_api_that_serves_it():
    status, headers, body = _answer("/docs/openapi.json", "127.0.0.1:3000")
    served = json.loads(body)
    committed = json.loads(api_docs.DOCUMENT.read_text())
    assert (status, headers["Content-Type"]) == (200, "application/json")
    assert served["servers"] == [
        {"url": "http://127.0.0.1:3000", "description": "this local stack"}
    ]
    assert served["paths"] == committed["paths"]
    assert served["components"] == committed["components"]


def test_the_page_loads_its_assets_from_the_api_itself(tmp_path, monkeypatch):
    monkeypatch.setattr(api_docs, "ASSETS", tmp_path)
    (tmp_path / "swagger-ui-bundle.js").write_text("bundle")
    (tmp_path / "swagger-ui.css").write_text("css")

    status, headers, page = _answer("/docs")
    assert (status, headers["Content-Type"]) == (200, "text/html; charset=utf-8")
    assert b'src="/docs/swagger-ui-bundle.js"' in page and b"//cdn" not in page
    assert api_docs.answer("/docs/swagger-ui.css", "h") == (
        200,
        {"Content-Type": "text/css", "Cache-Control": "no-store"},
        b"css",
    )
    for elsewhere in ("/docs/missing.js", "/docs/../Makefile", "/docs/..", "/doc", "/products"):
        assert api_docs.answer(elsewhere, "h") is None, elsewhere


def test_without_swagger_ui_the_page_says_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setattr(api_docs, "ASSETS", tmp_path / "absent")
    status, _, body = _answer("/docs/")
    assert status == 503 and b"run make swagger-ui" in body
