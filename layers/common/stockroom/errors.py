"""Domain errors. Logic raises these; the HTTP layer maps them to statuses in one table."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldProblem:
    field: str
    message: str


@dataclass
class StockroomError(Exception):
    message: str
    code: str = "ERROR"
    details: list[FieldProblem] = field(default_factory=list)

    def __str__(self) -> str:
        return self.message


@dataclass
class NotFoundError(StockroomError):
    code: str = "NOT_FOUND"


@dataclass
class InvalidRequestError(StockroomError):
    """The request is well formed but cannot be honoured (unknown SKU, mixed currency)."""

    code: str = "INVALID_REQUEST"


@dataclass
class ConflictError(StockroomError):
    code: str = "CONFLICT"


@dataclass
class UnauthorizedError(StockroomError):
    code: str = "UNAUTHORIZED"


@dataclass
class RetryLaterError(StockroomError):
    """Contention or throttling outlasted the retries inside this request; the same
    request can simply be sent again."""

    code: str = "RETRY_LATER"
