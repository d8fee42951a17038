"""The local API's documentation page: Swagger UI at /docs, for the OpenAPI document
`make openapi` writes (docs/openapi.json), read afresh on each request. Its `servers`
entry is the API that serves the page, so "Try it out" calls this local stack; Authorize
takes a token from `make token` (the routes' bearer scheme). Swagger UI's assets are
swagger-ui-dist's, installed by `make swagger-ui` into .tools/swagger-ui: nothing comes
from a CDN."""

import json
import mimetypes

from devtools.template import ROOT

PATH = "/docs"
ASSETS = ROOT / ".tools" / "swagger-ui"
DOCUMENT = ROOT / "docs" / "openapi.json"

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Stockroom API (local)</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: "/docs/openapi.json",
      dom_id: "#swagger-ui",
      persistAuthorization: true,
    });
  </script>
</body>
</html>
"""

Answer = tuple[int, dict[str, str], bytes]


def answer(path: str, host: str) -> Answer | None:
    """The answer to a GET of `path` on the API at `host` (its Host header), or None when
    the path is not the documentation's."""
    if path in (PATH, f"{PATH}/"):
        if not (ASSETS / "swagger-ui-bundle.js").is_file():
            missing = f"Swagger UI is not installed: run make swagger-ui (into {ASSETS})\n"
            return 503, {"Content-Type": "text/plain; charset=utf-8"}, missing.encode()
        return 200, _headers("text/html; charset=utf-8"), PAGE.encode()
    if path == f"{PATH}/openapi.json":
        document = json.loads(DOCUMENT.read_text())
        document["servers"] = [{"url": f"http://{host}", "description": "this local stack"}]
        return 200, _headers("application/json"), json.dumps(document).encode()
    name = path.removeprefix(f"{PATH}/")
    asset = ASSETS / name
    if path.startswith(f"{PATH}/") and "/" not in name and asset.is_file():
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return 200, _headers(kind), asset.read_bytes()
    return None


def _headers(kind: str) -> dict[str, str]:
    return {"Content-Type": kind, "Cache-Control": "no-store"}
