"""Stockroom's shared layer: what two or more functions use.

A function's own code lives in its folder, `functions/<name>/`: `<name>.py` its logic
(free of events and HTTP), `<name>_<trigger>.py` its handler. Here:
- `models`, `settings`, `errors`: pydantic models, settings parsed once, error classes;
- `aws`, `container`, `once`, `observability`, `retry`: clients made once per container,
  what init prepares, Logger and Metrics, the one retry layer above botocore;
- `dal/`: the one door to DynamoDB and the order queue;
- `http`, `http_rules`, `identity`, `pagination`, `cache`: the HTTP functions' plumbing;
- `catalog`, `recommendations`: logic that several functions share.
"""
