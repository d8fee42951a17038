"""Who is calling: the identity API Gateway's JWT authorizer verified.

Whether a caller is an admin is not read from here: the /admin routes' authorizer admits
only tokens with the admin scope (template.yaml's AdminScope), so the route a request
came by says it (docs/security.md)."""

from pydantic import BaseModel


class Caller(BaseModel):
    customer_id: str
    scopes: frozenset[str] = frozenset()
