"""Typed errors of the domain; adapters map them to their own answers."""

from __future__ import annotations


class DomainError(Exception):
    status = 400
    title = "Bad request"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class InvalidInput(DomainError):
    status = 422
    title = "Invalid input"


class NotFound(DomainError):
    status = 404
    title = "Not found"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"


class NotEditable(Forbidden):
    """The caller may read the event but not change it (a proposal is the way)."""


class Conflict(DomainError):
    status = 409
    title = "Conflict"


class RestartRequired(Conflict):
    """A setting that only changes with a restart."""


class TooLarge(DomainError):
    status = 413
    title = "Payload too large"


class TLPViolation(DomainError):
    status = 422
    title = "TLP guard"


class Unauthorized(DomainError):
    status = 401
    title = "Unauthorized"


class TooManyRequests(DomainError):
    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int, field: str | None = None) -> None:
        super().__init__(detail, field=field)
        self.retry_after = retry_after
