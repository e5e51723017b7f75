"""MISP's event calls: add, view, exists, edit, delete, publish, unpublish, index."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from shieldwall.api.deps import CurrentCtx, ReadDB, WriteDB
from shieldwall.intel import events as ev
from shieldwall.intel.common import get_event
from shieldwall.intel.schemas import EventIn
from shieldwall.intel.serialize import event_detail
from shieldwall.misp.common import json_body, misp_router, validated
from shieldwall.misp.shapes import event_shape

router = misp_router()


@router.post("/events/add")
@router.post("/events/add/metadata:{meta}")
async def add_event(
    request: Request, ctx: CurrentCtx, db: WriteDB, meta: str | None = None
) -> dict[str, Any]:
    body = await json_body(request)
    data = validated(EventIn, body.get("Event", body))
    event = ev.create_event(db, ctx, data)
    out = event_shape(event_detail(db, ctx, event), metadata=meta == "1")
    db.commit()
    return {"Event": out}


@router.get("/events/view/{ref}")
@router.post("/events/view/{ref}")
def view_event(ref: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    event = get_event(db, ctx, ref)
    return {"Event": event_shape(event_detail(db, ctx, event))}


@router.head("/events/view/{ref}")
def event_exists(ref: str, ctx: CurrentCtx, db: ReadDB) -> Response:
    get_event(db, ctx, ref)
    return Response(status_code=200)
