"""What every MISP route shares: MISP-shaped errors and answers, body parsing, parameters."""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

from shieldwall.api.responses import OrjsonResponse
from shieldwall.api.search import parse_time
from shieldwall.ids import as_id
from shieldwall.intel.errors import DomainError, InvalidInput, TooManyRequests
from shieldwall.intel.search import SearchFilter, TagFilter

M = TypeVar("M", bound=BaseModel)

MISP_VERSION = "2.5.0"


def misp_error(status: int, message: str, url: str, field: str | None = None) -> OrjsonResponse:
    errors: Any = {field: [message]} if field else message
    return OrjsonResponse(
        {
            "name": message,
            "message": message,
            "url": url,
            "errors": errors,
            "saved": False,
            "success": False,
        },
        status_code=status,
    )


def _rendered(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """Render what the endpoint returns with orjson straight away. A plain dict or list would
    otherwise pass through FastAPI's jsonable_encoder, which walks every value in Python:
    for an event of 43,000 attributes that took longer than building the answer."""

    def render(result: Any) -> Any:
        if isinstance(result, (dict, list)):
            return OrjsonResponse(result)
        return result

    if inspect.iscoroutinefunction(endpoint):

        @functools.wraps(endpoint)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            return render(await endpoint(*args, **kwargs))

        return run_async

    @functools.wraps(endpoint)
    def run(*args: Any, **kwargs: Any) -> Any:
        return render(endpoint(*args, **kwargs))

    return run


class MispRoute(APIRoute):
    """Errors on MISP paths come back in MISP's shape, not as problem details; answers are
    rendered with orjson as they are."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, _rendered(endpoint), **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def wrapped(request: Request) -> Response:
            try:
                return await handler(request)
            except DomainError as exc:
                response = misp_error(exc.status, exc.detail, request.url.path, exc.field)
                if isinstance(exc, TooManyRequests):
                    response.headers["Retry-After"] = str(max(exc.retry_after, 1))
                return response
            except RequestValidationError as exc:
                first = exc.errors()[0] if exc.errors() else {}
                loc = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
                return misp_error(
                    400, f"{loc}: {first.get('msg', 'invalid')}", request.url.path, loc or None
                )

        return wrapped


def misp_router() -> APIRouter:
    return APIRouter(route_class=MispRoute, tags=["MISP-compatible API"])


def misp_ok(message: str, url: str, **extra: Any) -> dict[str, Any]:
    """MISP's answer to an action (delete, publish, ...)."""
    return {
        "saved": True,
        "success": True,
        "name": message,
        "message": message,
        "url": url,
        **extra,
    }


def validated(model: type[M], raw: Any) -> M:
    """Validate MISP JSON into a Shieldwall schema; the first problem becomes a 400 naming
    the field."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"{loc}: {first['msg']}", field=loc) from None


async def json_value(request: Request) -> Any:
    """The body as JSON of any kind ({} when empty)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise InvalidInput(f"the body is not valid JSON: {exc}", field="body") from None


def unwrap(body: Any, name: str) -> Any:
    """MISP accepts {"Name": {...}} and the bare {...}."""
    if isinstance(body, dict) and isinstance(body.get(name), (dict, list)):
        return body[name]
    return body


async def json_body(request: Request) -> dict[str, Any]:
    body = await json_value(request)
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object", field="body")
    return body


def as_list(value: Any) -> list[str]:
    if value in (None, "", []):
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if v not in (None, "")]
    return [str(value)]


def flag(value: Any) -> bool | None:
    if value in (None, ""):
        return None
    return str(value).lower() in ("1", "true")


def time_range(value: Any, field: str) -> tuple[datetime | None, datetime | None]:
    if value in (None, ""):
        return None, None
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return parse_time(value[0], field), parse_time(value[1], field)
    return parse_time(value, field), None


def whole(value: Any, field: str, *, default: int, low: int, high: int) -> int:
    """A whole number parameter within bounds (MISP sends them as numbers or strings)."""
    if value in (None, "", 0, "0"):
        return default
    if isinstance(value, bool) or not isinstance(value, (int, str)) or as_id(value) is None:
        raise InvalidInput(f"{field} is a whole number from {low} to {high}", field=field)
    number = int(value)
    if not low <= number <= high:
        raise InvalidInput(f"{field} is a whole number from {low} to {high}", field=field)
    return number


def text_param(value: Any, field: str) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{field} is text", field=field)
    return value


def named_params(path: str) -> dict[str, str]:
    """CakePHP named parameters at the end of a MISP path: "a:1/b:2" -> {"a": "1", "b": "2"}."""
    out: dict[str, str] = {}
    for part in path.split("/"):
        if not part:
            continue
        name, sep, value = part.partition(":")
        if not sep or not name:
            raise InvalidInput(f"unexpected path segment {part!r}", field="path")
        out[name] = value
    return out


def with_after(f: SearchFilter, after: int) -> SearchFilter:
    return replace(f, after=after)


def paged(
    fetch: Callable[[int], list[Any]], key: Callable[[Any], int], limit: int, page: int
) -> list[Any]:
    """MISP pages by number; walk the keyset to the page instead of an OFFSET scan."""
    after = 0
    for _ in range(page - 1):
        rows = fetch(after)
        if len(rows) < limit:
            return []
        after = key(rows[-1])
    return fetch(after)


Endpoint = Callable[..., Any]


def prefixed_routes(
    router: APIRouter, prefixes: tuple[str, ...]
) -> Callable[..., Callable[[Endpoint], Endpoint]]:
    """A route decorator for controllers MISP answers under several spellings
    (eventReports and event_reports): route(method, *tails) adds each tail under each prefix."""

    def route(method: str, *tails: str) -> Callable[[Endpoint], Endpoint]:
        def add(endpoint: Endpoint) -> Endpoint:
            for tail in tails:
                for prefix in prefixes:
                    router.add_api_route(prefix + tail, endpoint, methods=[method])
            return endpoint

        return add

    return route


def tag_filter(value: Any) -> TagFilter:
    """MISP's tag parameter: names (a leading ! excludes) or {"OR"|"AND"|"NOT": [...]}."""
    tf = TagFilter()
    if isinstance(value, dict):
        upper = {k.upper(): v for k, v in value.items()}
        unknown = set(upper) - {"OR", "AND", "NOT"}
        if unknown:
            raise InvalidInput(
                f"tags takes OR, AND and NOT, not {sorted(unknown)[0]}", field="tags"
            )
        tf.any_of = as_list(upper.get("OR"))
        tf.all_of = as_list(upper.get("AND"))
        tf.none_of = as_list(upper.get("NOT"))
        return tf
    for t in as_list(value):
        (tf.none_of if t.startswith("!") else tf.any_of).append(t.lstrip("!"))
    return tf
