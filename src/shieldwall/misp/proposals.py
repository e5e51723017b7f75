"""MISP's proposal calls (shadow attributes): index, view, add, edit, delete, accept and
discard, under MISP's two spellings of the path (shadowAttributes and shadow_attributes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Request

from shieldwall.api.deps import CurrentCtx, ReadDB, WriteDB
from shieldwall.intel import proposals as prop
from shieldwall.intel.errors import InvalidInput
from shieldwall.misp.common import (
    flag,
    json_value,
    misp_ok,
    misp_router,
    named_params,
    paged,
    prefixed_routes,
    time_range,
    validated,
    whole,
)
from shieldwall.misp.shapes import epoch

router = misp_router()

_PREFIXES = ("/shadowAttributes", "/shadow_attributes")
# The index's parameters Shieldwall applies; others are refused by name, not ignored.
_INDEX_PARAMS = ("deleted", "timestamp", "limit", "page", "all")
INDEX_LIMIT = 10_000


_route = prefixed_routes(router, _PREFIXES)


def proposal_shape(p: dict[str, Any]) -> dict[str, Any]:
    """From the native serialisation (intel.proposals.proposal_out)."""
    out = {
        "id": str(p["id"]),
        "old_id": str(p["old_id"] or 0),
        "event_id": str(p["event_id"]),
        "type": p["type"],
        "category": p["category"],
        "value": p["value"],
        "to_ids": p["to_ids"],
        "uuid": p["uuid"],
        "event_uuid": p["event_uuid"],
        "event_org_id": str(p["event_org_id"]),
        "org_id": str(p["org"]["id"]),
        "org_uuid": p["org"]["uuid"],
        "email": p["email"],
        "comment": p["comment"],
        "deleted": p["deleted"],
        "proposal_to_delete": p["proposal_to_delete"],
        "disable_correlation": p["disable_correlation"],
        "timestamp": epoch(datetime.fromisoformat(p["timestamp"])),
        "first_seen": p["first_seen"],
        "last_seen": p["last_seen"],
        "Org": {"id": str(p["org"]["id"]), "name": p["org"]["name"], "uuid": p["org"]["uuid"]},
    }
    if p["old_uuid"]:
        out["old_uuid"] = p["old_uuid"]
    return out


def _shaped(db: Any, rows: list[prop.Row]) -> list[dict[str, Any]]:
    return [proposal_shape(p) for p in prop.proposals_out(db, rows)]


async def _body(request: Request) -> dict[str, Any]:
    """The proposal in a body: {"ShadowAttribute": ...}, MISP's other wrappers ("Attribute",
    "Proposal", "request") or bare."""
    body = await json_value(request)
    if isinstance(body, dict) and isinstance(body.get("request"), dict):
        body = body["request"]
    if isinstance(body, dict):
        for name in ("ShadowAttribute", "Attribute", "Proposal"):
            if isinstance(body.get(name), dict):
                return dict(body[name])
        return body
    raise InvalidInput("send the proposal as a JSON object", field="ShadowAttribute")


@_route("GET", "/index", "/index/{rest:path}")
def index_proposals(
    request: Request, ctx: CurrentCtx, db: ReadDB, rest: str = ""
) -> list[dict[str, Any]]:
    """Proposals the caller may see, of one event when its id or uuid leads the path; as
    in MISP's API, closed (accepted or discarded) ones too unless deleted:0 is given."""
    parts = [s for s in rest.split("/") if s]
    event = None
    if parts and ":" not in parts[0]:
        event = parts.pop(0)
    params: dict[str, Any] = {**dict(request.query_params), **named_params("/".join(parts))}
    for name in params:
        if name not in _INDEX_PARAMS:
            raise InvalidInput(f"the proposal index parameter {name} is not supported", field=name)
    if params.get("all") not in (None, "", "1"):
        raise InvalidInput("the proposal index supports all:1 only", field="all")
    deleted = flag(params.get("deleted"))
    since, _ = time_range(params.get("timestamp"), "timestamp")
    limit = whole(params.get("limit"), "limit", default=INDEX_LIMIT, low=1, high=INDEX_LIMIT)
    page = whole(params.get("page"), "page", default=1, low=1, high=1_000_000)
    rows = paged(
        lambda after: prop.list_proposals(
            db,
            ctx,
            event=event,
            deleted=deleted,
            since=since,
            after=after,
            limit=limit,
            event_field="event_id",
        ),
        lambda r: r[0].id,
        limit,
        page,
    )
    return [{"ShadowAttribute": s} for s in _shaped(db, rows)]


@_route("GET", "/view/{ref}")
def view_proposal(ref: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    return {"ShadowAttribute": _shaped(db, [prop.get_proposal(db, ctx, ref)])[0]}


@_route("POST", "/add/{event_ref}")
async def add_proposal(
    request: Request, event_ref: str, ctx: CurrentCtx, db: WriteDB
) -> dict[str, Any]:
    data = validated(prop.ProposalIn, await _body(request))
    p = prop.propose_attribute(db, ctx, event_ref, data)
    out = _shaped(db, [prop.get_proposal(db, ctx, p.id)])[0]
    db.commit()
    return {"ShadowAttribute": out}


@_route("POST", "/edit/{attribute_ref}")
async def edit_proposal(
    request: Request, attribute_ref: str, ctx: CurrentCtx, db: WriteDB
) -> dict[str, Any]:
    data = validated(prop.ProposalChange, await _body(request))
    p = prop.propose_change(db, ctx, attribute_ref, data)
    out = _shaped(db, [prop.get_proposal(db, ctx, p.id)])[0]
    db.commit()
    return {"ShadowAttribute": out}


@_route("POST", "/delete/{attribute_ref}")
def delete_proposal(
    request: Request, attribute_ref: str, ctx: CurrentCtx, db: WriteDB
) -> dict[str, Any]:
    p = prop.propose_deletion(db, ctx, attribute_ref)
    out = _shaped(db, [prop.get_proposal(db, ctx, p.id)])[0]
    db.commit()
    message = "The proposal to delete the attribute has been saved"
    # MISP answers success with the message; the proposal is added for scripts to follow.
    return {
        **misp_ok(message, request.url.path, id=str(p.id)),
        "success": message,
        "ShadowAttribute": out,
    }


@_route("POST", "/accept/{ref}")
def accept_proposal(request: Request, ref: str, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    p, done = prop.accept_proposal(db, ctx, ref)
    db.commit()
    message = "Proposal accepted." if done == "added" else "Proposed change accepted."
    return misp_ok(message, request.url.path, id=str(p.id), check_publish=True)


@_route("POST", "/discard/{ref}")
def discard_proposal(request: Request, ref: str, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    p = prop.discard_proposal(db, ctx, ref)
    db.commit()
    return misp_ok("Proposal discarded.", request.url.path, id=str(p.id))
