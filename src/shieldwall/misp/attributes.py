"""MISP's attribute calls: add (one or a list), view, exists, edit, delete, restore, index."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import Request, Response

from shieldwall.api.deps import BulkWriteDB, CurrentCtx, ReadDB, WriteDB
from shieldwall.api.responses import content_disposition
from shieldwall.intel import attachments
from shieldwall.intel import events as ev
from shieldwall.intel.attachments import sample_search
from shieldwall.intel.common import get_attribute, get_event
from shieldwall.intel.errors import DomainError, Forbidden, InvalidInput, NotEditable
from shieldwall.intel.models import Attribute
from shieldwall.intel.schemas import AttributeIn, AttributeUpdate
from shieldwall.intel.search import SearchFilter, search_attributes
from shieldwall.intel.serialize import attributes_with_tags
from shieldwall.misp.common import (
    flag,
    json_value,
    misp_ok,
    misp_router,
    named_params,
    paged,
    unwrap,
    validated,
    whole,
    with_after,
)
from shieldwall.misp.shapes import attribute_shape

router = misp_router()


@contextmanager
def _misp_permission() -> Iterator[None]:
    """MISP answers a change to an event the user may read but not edit with this exact
    message; PyMISP then sends the change as a proposal instead."""
    try:
        yield
    except NotEditable as exc:
        raise Forbidden("You do not have permission to do that.", field=exc.field) from None


# The fields of MISP's attribute JSON that an edit may change.
_EDITABLE = (
    "type",
    "value",
    "category",
    "to_ids",
    "distribution",
    "sharing_group_id",
    "comment",
    "first_seen",
    "last_seen",
    "disable_correlation",
    "data",
    "encrypt",
)


def _shape(db: ReadDB, ctx: CurrentCtx, attrs: list[Attribute]) -> list[dict[str, Any]]:
    return [attribute_shape(a) for a in attributes_with_tags(db, ctx, attrs)]


@router.post("/attributes/add/{event_ref}")
@router.post("/attributes/add/{event_ref}/{named:path}")
async def add_attribute(
    request: Request, event_ref: str, ctx: CurrentCtx, db: BulkWriteDB, named: str = ""
) -> dict[str, Any]:
    params = named_params(named)
    if "breakOnDuplicate" not in params:
        params["breakOnDuplicate"] = request.query_params.get("breakOnDuplicate", "1")
    body = unwrap(await json_value(request), "Attribute")
    single = isinstance(body, dict)
    if single and isinstance(body.get("value"), list):
        # MISP's shorthand: one attribute template and a list of values.
        values = body["value"]
        body = [{**body, "value": v} for v in values]
        single = False
    if not isinstance(body, (dict, list)) or (not single and not body):
        raise InvalidInput("send an attribute or a non-empty list of attributes", field="Attribute")
    items = [body] if single else body
    parsed = [
        validated(AttributeIn, unwrap(item, "Attribute")) if isinstance(item, dict) else None
        for item in items
    ]
    if any(p is None for p in parsed):
        raise InvalidInput("each attribute is a JSON object", field="Attribute")
    event = get_event(db, ctx, event_ref)
    try:
        with _misp_permission():
            added = ev.add_attributes(
                db,
                ctx,
                event.id,
                [p for p in parsed if p is not None],
                break_on_duplicate=bool(flag(params["breakOnDuplicate"])),
            )
    except DomainError as exc:
        if single and exc.field and exc.field.startswith("attributes[0]."):
            exc.field = exc.field.removeprefix("attributes[0].")  # MISP names the bare field
        raise
    if single and not added:
        # breakOnDuplicate off and the value is already there: answer with the stored one.
        a = parsed[0]
        assert a is not None
        rows = search_attributes(
            db, ctx, SearchFilter(value=[a.value], type=[a.type], event=[str(event.id)], limit=1)
        )
        added = [r[0] for r in rows]
    shaped = _shape(db, ctx, added)
    db.commit()
    if (single or len(shaped) == 1) and shaped:
        return {"Attribute": shaped[0]}
    return {"Attribute": shaped}


@router.get("/attributes/view/{ref}")
def view_attribute(ref: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    attr, _ = get_attribute(db, ctx, ref)
    shaped = _shape(db, ctx, [attr])
    attachments.attach_data(db, shaped)  # MISP's API view carries the file
    return {"Attribute": shaped[0]}


@router.get("/attributes/download/{ref}")
def download_attribute(ref: str, ctx: CurrentCtx, db: ReadDB) -> Response:
    """The file of an attachment (as sent) or a malware sample (the encrypted zip)."""
    got = attachments.download(db, ctx, ref)
    return Response(
        got.data,
        media_type=got.media_type,
        headers={"Content-Disposition": content_disposition(got.filename)},
    )


def _given(value: Any) -> str | None:
    """A downloadSample parameter; MISP reads "0", "false" and "null" as not given."""
    text = str(value).strip() if value is not None else ""
    return None if text.lower() in ("", "0", "false", "null") else text


@router.post("/attributes/downloadSample")
@router.post("/attributes/downloadSample/{named:path}")
async def download_sample(
    request: Request, ctx: CurrentCtx, db: ReadDB, named: str = ""
) -> dict[str, Any]:
    """MISP's sample download: by md5 (`hash`), by event (`eventID`), or both; with
    `allSamples` and a hash, every sample of the events holding that hash. Each sample once,
    as `{"md5", "base64" (the encrypted zip), "filename", "attribute_id", "event_id",
    "event_info"}`."""
    body = await json_value(request)
    req = body.get("request", body) if isinstance(body, dict) else {}
    if not isinstance(req, dict):
        raise InvalidInput('send {"request": {"hash": ..., "eventID": ...}}', field="request")
    parts = named.split("/") if named else []
    hash_ = _given(req.get("hash", parts[0] if parts else None))
    all_samples = _given(req.get("allSamples", parts[1] if len(parts) > 1 else None))
    event_id = _given(req.get("eventID", parts[2] if len(parts) > 2 else None))
    found = sample_search(
        db, ctx, md5=hash_, event=event_id, all_samples=bool(all_samples and flag(all_samples))
    )
    if not found:
        return {"message": "No hits with the given parameters."}
    return {"result": found}


@router.head("/attributes/view/{ref}")
def attribute_exists(ref: str, ctx: CurrentCtx, db: ReadDB) -> Response:
    get_attribute(db, ctx, ref)
    return Response(status_code=200)


@router.post("/attributes/edit/{ref}")
async def edit_attribute(
    request: Request, ref: str, ctx: CurrentCtx, db: WriteDB
) -> dict[str, Any]:
    body = unwrap(await json_value(request), "Attribute")
    if not isinstance(body, dict):
        raise InvalidInput("send the attribute as a JSON object", field="Attribute")
    fields = {k: body[k] for k in _EDITABLE if k in body}
    if str(fields.get("distribution", "")) != "4":
        fields.pop("sharing_group_id", None)
    for name in ("first_seen", "last_seen"):
        if fields.get(name) in ("", 0, "0"):
            fields[name] = None
    with _misp_permission():
        attr = ev.update_attribute(db, ctx, ref, validated(AttributeUpdate, fields))
    if flag(body.get("deleted")) and not attr.deleted:
        ev.delete_attribute(db, ctx, attr.id)
    tags = body.get("Tag") or body.get("tags")
    if tags:
        data = validated(AttributeIn, {"type": attr.type, "value": attr.value, "Tag": tags})
        ev.tag_attribute(db, ctx, attr.id, data.tags)
    attr, _ = get_attribute(db, ctx, attr.id, include_deleted=True)
    out = _shape(db, ctx, [attr])[0]
    db.commit()
    return {"Attribute": out}


@router.post("/attributes/delete/{ref}")
@router.post("/attributes/delete/{ref}/{hard}")
@router.delete("/attributes/delete/{ref}")
async def delete_attribute(
    request: Request, ref: str, ctx: CurrentCtx, db: WriteDB, hard: str | None = None
) -> dict[str, Any]:
    body = await json_value(request)
    hard_delete = bool(flag(hard)) or (isinstance(body, dict) and bool(flag(body.get("hard"))))
    attr, _ = get_attribute(db, ctx, ref, include_deleted=hard_delete)
    with _misp_permission():
        ev.delete_attribute(db, ctx, attr.id, hard=hard_delete)
    db.commit()
    return misp_ok("Attribute deleted.", request.url.path, id=str(attr.id))


@router.post("/attributes/restore/{ref}")
def restore_attribute(ref: str, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    attr = ev.restore_attribute(db, ctx, ref)
    out = _shape(db, ctx, [attr])[0]
    db.commit()
    return {"Attribute": out}


@router.get("/attributes/index")
@router.get("/attributes")
def index_attributes(request: Request, ctx: CurrentCtx, db: ReadDB) -> list[dict[str, Any]]:
    q = request.query_params
    f = SearchFilter(limit=whole(q.get("limit"), "limit", default=60, low=1, high=10000))
    rows = paged(
        lambda after: search_attributes(db, ctx, with_after(f, after)),
        lambda r: r[0].id,
        f.limit,
        whole(q.get("page"), "page", default=1, low=1, high=1_000_000),
    )
    uuids = {a.event_id: u for a, u in rows}
    return [attribute_shape(a) for a in attributes_with_tags(db, ctx, [a for a, _ in rows], uuids)]
