"""Problem details (RFC 9457) for every error of the native API, with the offending field."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shieldwall.api.responses import OrjsonResponse
from shieldwall.intel.errors import DomainError, TooManyRequests

log = logging.getLogger("shieldwall.api")
PROBLEM = "application/problem+json"


def problem(
    status: int, title: str, detail: str, field: str | None = None, **extra: Any
) -> Response:
    body: dict[str, Any] = {
        "type": f"https://shieldwall.dev/problems/{title.lower().replace(' ', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if field:
        body["field"] = field
    body.update(extra)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return OrjsonResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


# Union bodies (one item or a list) add the member's schema name to the error location.
_UNION_TAG = re.compile(r"^(list\[)?[A-Z]\w*(In|Update|Create|Ref)\]?$")


def _loc(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [
        str(p)
        for p in loc
        if p not in ("body", "query", "path", "header") and not _UNION_TAG.match(str(p))
    ]
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out or "body"


def _reason(error: Any) -> str:
    if error.get("type") == "string_pattern_mismatch" and "\\x00" in str(
        (error.get("ctx") or {}).get("pattern", "")
    ):
        return "must not contain NUL characters"
    return str(error.get("msg", "invalid"))


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> Response:
        response = problem(exc.status, exc.title, exc.detail, exc.field)
        if isinstance(exc, TooManyRequests):
            response.headers["Retry-After"] = str(max(exc.retry_after, 1))
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        first = errors[0] if errors else {}
        if first.get("type") == "json_invalid" or (
            first.get("loc") == ("body",) and isinstance(first.get("input"), (bytes, str))
        ):
            ctx = first.get("ctx") or {}
            return problem(
                400,
                "Malformed JSON",
                f"the body is not valid JSON: {ctx.get('error', 'parse error')}",
                "body",
            )
        field = _loc(first.get("loc", ()))
        msg = _reason(first)
        return problem(
            422,
            "Invalid input",
            f"{field}: {msg}",
            field,
            errors=[
                {"field": _loc(e.get("loc", ())), "reason": e.get("msg", "")} for e in errors[:50]
            ],
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> Response:
        titles = {
            404: "Not found",
            405: "Method not allowed",
            413: "Payload too large",
            400: "Bad request",
        }
        return problem(exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail))

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> Response:
        log.info("integrity error: %s", exc.orig)
        return problem(
            409, "Conflict", "the change conflicts with stored data (a duplicate uuid or name)"
        )

    @app.exception_handler(DataError)
    async def _data(_: Request, exc: DataError) -> Response:
        # A value the database cannot hold (a number out of range, say) that got past validation.
        log.info("data error: %s", exc.orig)
        return problem(
            422, "Invalid input", "a value is out of range or of the wrong kind for storage"
        )

    @app.exception_handler(OperationalError)
    async def _operational(_: Request, exc: OperationalError) -> Response:
        log.warning("database unavailable: %s", exc.orig)
        return problem(
            503, "Service unavailable", "the database is busy or unreachable; retry later"
        )
