"""Mounting the web interface on the application: its routers, static files and filters."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from shieldwall.web import account, admin, home, intel, response
from shieldwall.web.core import HERE, TEMPLATES

_API_LINK = re.compile(
    r"^/api/v1/(alerts|cases|tasks|assistance-requests|events|attributes)(/.*)?$"
)
_UI_NAMES = {"assistance-requests": "assistance"}


def ui_link(link: str) -> str:
    """A notification's API link as the page that shows the same thing."""
    m = _API_LINK.match(link or "")
    if not m:
        return link or "/ui/"
    return f"/ui/{_UI_NAMES.get(m.group(1), m.group(1))}{m.group(2) or ''}"


def zip_pairs(values: list[str]) -> list[tuple[str, str]]:
    """Names as (value, label) pairs for a select."""
    return [(v, v) for v in values]


TEMPLATES.env.filters["ui_link"] = ui_link
TEMPLATES.env.filters["zip_pairs"] = zip_pairs


def mount(app: FastAPI) -> None:
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")
    for module in (account, home, intel, response, admin):
        app.include_router(module.router)
