"""MISP's STIX upload: events/upload_stix/2 (PyMISP's upload_stix(path, version='2'))."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from shieldwall.api.deps import CurrentCtx, WriteDB
from shieldwall.exchange.stix_import import import_bundle
from shieldwall.intel.errors import InvalidInput
from shieldwall.intel.serialize import event_detail
from shieldwall.misp.common import misp_router, named_params, whole
from shieldwall.misp.shapes import event_shape
from shieldwall.misp.views import complete

router = misp_router()


@router.post("/events/upload_stix/2")
@router.post("/events/upload_stix/2/{named:path}")
async def upload_stix(request: Request, ctx: CurrentCtx, db: WriteDB, named: str = "") -> Any:
    """The body is a STIX 2.1 bundle; its events are created (all or none) with
    distribution 0 unless `distribution:N` is named, and returned as events/add returns
    them: one {"Event": ...}, or a list when the bundle held several."""
    params = {**named_params(named), **dict(request.query_params)}
    distribution = whole(params.get("distribution"), "distribution", default=0, low=0, high=4)
    sharing_group = params.get("sharing_group_id")
    if distribution == 4 and not str(sharing_group or "").isdigit():
        raise InvalidInput("distribution 4 needs sharing_group_id", field="sharing_group_id")
    events = import_bundle(
        db,
        ctx,
        await request.body(),
        distribution=distribution,
        sharing_group_id=int(str(sharing_group)) if distribution == 4 else None,
    )
    out = []
    for e in events:
        detail = event_detail(db, ctx, e)
        out.append({"Event": complete(db, ctx, detail, event_shape(detail), related=False)})
    db.commit()
    return out[0] if len(out) == 1 else out
