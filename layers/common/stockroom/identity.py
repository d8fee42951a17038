"""Who is calling: the identity API Gateway's JWT authorizer verified."""

from pydantic import BaseModel

ADMIN_SCOPE = "admin"


class Caller(BaseModel):
    customer_id: str
    scopes: frozenset[str] = frozenset()

    @property
    def is_admin(self) -> bool:
        return ADMIN_SCOPE in self.scopes
