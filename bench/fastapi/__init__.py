"""The catalog and order routes written with FastAPI + Mangum over the same logic and
data modules as functions/catalog and functions/orders: what a team would otherwise
pick, kept honest and idiomatic so the benchmarks compare like with like. Not deployed.

Each module is one Lambda function's handler, as the Powertools versions are; both wrap
the ASGI adapter in the same Logger, Tracer and Metrics decorators, so only the web
framework differs."""
