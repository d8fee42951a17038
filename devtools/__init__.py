"""Developer tooling (never deployed): the template as data, the OpenAPI document, measurements."""
