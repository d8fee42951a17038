"""Domain errors. Logic raises these; the HTTP layer maps them to statuses in one table."""

from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class FieldProblem:
    field: str
    message: str


@dataclass
class StockroomError(Exception):
    """A domain error. Each kind names its code once, in its class statement
    (`class NotFoundError(StockroomError, code="NOT_FOUND")`): the code an error of that
    kind has unless it is given a more specific one."""

    message: str
    code: str = ""  # empty: the kind's code
    details: list[FieldProblem] = field(default_factory=list)
    kind_code: ClassVar[str] = "ERROR"

    def __init_subclass__(cls, *, code: str, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.kind_code = code

    def __post_init__(self) -> None:
        self.code = self.code or self.kind_code

    def __str__(self) -> str:
        return self.message


class NotFoundError(StockroomError, code="NOT_FOUND"):
    pass


class InvalidRequestError(StockroomError, code="INVALID_REQUEST"):
    """The request is well formed but cannot be honoured (unknown SKU, mixed currency)."""


class ConflictError(StockroomError, code="CONFLICT"):
    pass


class UnauthorizedError(StockroomError, code="UNAUTHORIZED"):
    pass


class RetryLaterError(StockroomError, code="RETRY_LATER"):
    """Contention or throttling outlasted the retries inside this request; the same
    request can simply be sent again."""
