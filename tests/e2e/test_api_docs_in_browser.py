"""The local API's documentation page in a real browser (headless Chromium): Swagger UI
at /docs lists every route of the OpenAPI document, and "Try it out" with a token from
`make token` calls the local API from the page."""

import json

import pytest

from devtools.http_api import make_token
from devtools.template import ROOT
from support import chromium

pytestmark = pytest.mark.local_only

# Waits for what `find` returns to be truthy (Swagger UI renders after fetching the
# document), for at most `seconds`.
UNTIL = """
const until = async (find, seconds = 15) => {
  for (let tries = 0; tries < seconds * 20; tries++) {
    const found = find();
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("not found: " + find);
};
"""

LISTED = f"""(async () => {{
  {UNTIL}
  const blocks = await until(() => {{
    const found = [...document.querySelectorAll(".opblock")];
    return found.length ? found : null;
  }});
  return blocks.map((block) => [
    block.querySelector(".opblock-summary-method").textContent,
    block.querySelector(".opblock-summary-path").dataset.path,
  ]);
}})()"""

# Authorize (the routes' bearer scheme) with the token, then GET /orders' "Try it out"
# and "Execute", as a person would click them; the answer's status and URL as shown.
TRY_IT_OUT = f"""(async (token) => {{
  {UNTIL}
  window.ui.authActions.authorize({{
    jwt: {{ name: "jwt", schema: {{ type: "http", scheme: "bearer" }}, value: token }},
  }});
  const block = await until(() => [...document.querySelectorAll(".opblock-get")].find(
    (found) => found.querySelector(".opblock-summary-path").dataset.path === "/orders"));
  block.querySelector(".opblock-summary-control").click();
  (await until(() => block.querySelector(".try-out__btn"))).click();
  (await until(() => block.querySelector(".execute"))).click();
  // The API's first request starts the orders function's process: more on a busy machine.
  const status = await until(
    () => block.querySelector(".live-responses-table tbody .response-col_status"), 40);
  const url = block.querySelector(".request-url pre");
  return [status.textContent.trim(), url ? url.textContent.trim() : null];
}})(%s)"""


def test_the_docs_page_lists_every_route_and_tries_one_out_with_a_token(local_stack):
    if chromium.executable() is None:
        pytest.fail(f"no chromium on PATH: {chromium.INSTALL}")
    document = json.loads((ROOT / "docs" / "openapi.json").read_text())
    routes = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    api = local_stack["api"]

    with chromium.headless() as page:
        page.open(f"{api}/docs")
        listed = page.evaluate(LISTED)
        status, url = page.evaluate(TRY_IT_OUT % json.dumps(make_token("docs-reader")))

    assert sorted({tuple(route) for route in listed}) == sorted(routes)
    assert len(listed) == len(routes)
    assert status == "200"
    assert url.startswith(f"{api}/orders")  # the page's servers entry: this local API
