"""Events, attributes, objects, tags, sightings and sharing groups."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict

from shieldwall.api.deps import BulkWriteDB, CurrentCtx, ReadDB, WriteDB
from shieldwall.api.responses import content_disposition
from shieldwall.api.search import MAX_AFTER, QueryFilter, ndjson_wanted, stream_response
from shieldwall.intel import attachments
from shieldwall.intel import events as ev
from shieldwall.intel import sharing_groups as sgs
from shieldwall.intel import sightings as sights
from shieldwall.intel import tags as tag_svc
from shieldwall.intel.common import get_attribute, get_event, get_object
from shieldwall.intel.schemas import (
    DB_INT_MAX,
    AttributeIn,
    AttributeUpdate,
    DbId,
    EventIn,
    EventUpdate,
    ObjectIn,
    ReferenceIn,
    SharingGroupIn,
    SharingGroupMemberIn,
    SharingGroupUpdate,
    SightingCreate,
    TagIn,
    TagRef,
    TagUpdate,
)
from shieldwall.intel.search import search_events
from shieldwall.intel.serialize import (
    attributes_with_tags,
    event_detail,
    event_summary,
    object_out,
    reference_out,
    sharing_group_out,
    sighting_out,
    tag_out,
)
from shieldwall.knowledge import warninglists
from shieldwall.lifecycle import service as lifecycle

router = APIRouter()


class ObjectUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: str | None = None
    distribution: int | None = None
    sharing_group_id: DbId | None = None


# ---------------------------------------------------------------- events


@router.get("/events", tags=["events"])
def list_events(
    request: Request, ctx: CurrentCtx, db: ReadDB, f: QueryFilter, format: str | None = None
) -> Any:
    """Events the caller may read, filters applied, in id order (keyset paging with `after`);
    `format=ndjson` streams all of them."""
    if ndjson_wanted(format, request):
        return stream_response(ctx, f, kind="events")
    items = [event_summary(e) for e in search_events(db, ctx, f)]
    return {"items": items, "next": items[-1]["id"] if len(items) == f.limit else None}


@router.post("/events", status_code=201, tags=["events"])
def create_event(data: EventIn, ctx: CurrentCtx, db: BulkWriteDB) -> dict[str, Any]:
    """Create an event, with attributes, objects and tags inline; answered as GET
    /events/{ref} answers (each attribute with its `warninglist_hits`)."""
    made = ev.create_event_written(db, ctx, data)
    out = warninglists.flag_event(db, event_detail(db, ctx, made.event, written=made.attributes))
    db.commit()
    return out


@router.get("/events/{ref}", tags=["events"])
def get_event_route(
    ref: str, ctx: CurrentCtx, db: ReadDB, include_deleted: bool = False
) -> dict[str, Any]:
    """The event with its attributes and objects; each attribute carries `warninglist_hits`,
    the enabled warninglists that hold its value."""
    event = get_event(db, ctx, ref)
    return warninglists.flag_event(
        db, event_detail(db, ctx, event, include_deleted=include_deleted)
    )


@router.patch("/events/{ref}", tags=["events"])
def update_event(ref: str, data: EventUpdate, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    event = ev.update_event(db, ctx, ref, data)
    out = event_summary(event)
    db.commit()
    return out


@router.delete("/events/{ref}", status_code=204, tags=["events"])
def delete_event(ref: str, ctx: CurrentCtx, db: WriteDB) -> Response:
    ev.delete_event(db, ctx, ref)
    db.commit()
    return Response(status_code=204)


@router.post("/events/{ref}/publish", tags=["events"])
def publish(ref: str, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    out = event_summary(ev.publish_event(db, ctx, ref, True))
    db.commit()
    return out


@router.post("/events/{ref}/unpublish", tags=["events"])
def unpublish(ref: str, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    out = event_summary(ev.publish_event(db, ctx, ref, False))
    db.commit()
    return out


@router.post("/events/{ref}/tags", tags=["events"])
def tag_event(ref: str, tags: list[TagRef], ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    added = ev.tag_event(db, ctx, ref, tags)
    db.commit()
    return {"added": added}


@router.delete("/events/{ref}/tags/{tag_name:path}", status_code=204, tags=["events"])
def untag_event(ref: str, tag_name: str, ctx: CurrentCtx, db: WriteDB) -> Response:
    ev.untag_event(db, ctx, ref, tag_name)
    db.commit()
    return Response(status_code=204)


# ---------------------------------------------------------------- attributes


@router.post("/events/{ref}/attributes", status_code=201, tags=["attributes"])
def add_attributes(
    ref: str,
    ctx: CurrentCtx,
    db: BulkWriteDB,
    body: AttributeIn | list[AttributeIn] = Body(...),
    break_on_duplicate: bool = True,
) -> dict[str, Any]:
    """Add one attribute or a list of them (bulk) to an event."""
    items = body if isinstance(body, list) else [body]
    attrs = ev.add_attributes(db, ctx, ref, items, break_on_duplicate=break_on_duplicate)
    out = {"items": attributes_with_tags(db, ctx, attrs), "count": len(attrs)}
    db.commit()
    return out


@router.get("/attributes/{ref}", tags=["attributes"])
def get_attribute_route(
    ref: str, ctx: CurrentCtx, db: ReadDB, include_deleted: bool = False
) -> dict[str, Any]:
    """An attribute with its tags, its lifecycle (score, decayed, expiry; the score computed
    from the sightings and tags the caller may read) and `warninglist_hits`: the enabled
    warninglists that hold its value."""
    attr, event = get_attribute(db, ctx, ref, include_deleted=include_deleted)
    out = attributes_with_tags(db, ctx, [attr], {event.id: event.uuid})
    warninglists.flag_attributes(db, out)
    out[0]["lifecycle"] = lifecycle.attribute_lifecycle(db, ctx, attr)
    return out[0]


@router.get("/attributes/{ref}/file", tags=["attributes"])
def download_attribute_file(ref: str, ctx: CurrentCtx, db: ReadDB) -> Response:
    """The file of an attachment attribute (as sent) or of a malware sample (the zip
    encrypted with the password "infected", as MISP keeps it); 404 for anything the caller
    may not read."""
    got = attachments.download(db, ctx, ref)
    return Response(
        got.data,
        media_type=got.media_type,
        headers={"Content-Disposition": content_disposition(got.filename)},
    )


@router.patch("/attributes/{ref}", tags=["attributes"])
def update_attribute(
    ref: str, data: AttributeUpdate, ctx: CurrentCtx, db: WriteDB
) -> dict[str, Any]:
    attr = ev.update_attribute(db, ctx, ref, data)
    out = attributes_with_tags(db, ctx, [attr])[0]
    db.commit()
    return out


@router.delete("/attributes/{ref}", status_code=204, tags=["attributes"])
def delete_attribute(ref: str, ctx: CurrentCtx, db: WriteDB, hard: bool = False) -> Response:
    ev.delete_attribute(db, ctx, ref, hard=hard)
    db.commit()
    return Response(status_code=204)


@router.post("/attributes/{ref}/restore", tags=["attributes"])
def restore_attribute(ref: str, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    attr = ev.restore_attribute(db, ctx, ref)
    out = attributes_with_tags(db, ctx, [attr])[0]
    db.commit()
    return out


@router.post("/attributes/{ref}/tags", tags=["attributes"])
def tag_attribute(ref: str, tags: list[TagRef], ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    added = ev.tag_attribute(db, ctx, ref, tags)
    db.commit()
    return {"added": added}


@router.delete("/attributes/{ref}/tags/{tag_name:path}", status_code=204, tags=["attributes"])
def untag_attribute(ref: str, tag_name: str, ctx: CurrentCtx, db: WriteDB) -> Response:
    ev.untag_attribute(db, ctx, ref, tag_name)
    db.commit()
    return Response(status_code=204)


# ---------------------------------------------------------------- objects


def _object_detail(db: Any, ctx: Any, ref: str | int) -> dict[str, Any]:
    obj, event = get_object(db, ctx, ref)
    detail = event_detail(db, ctx, event)
    for o in detail["objects"]:
        if o["id"] == obj.id:
            return dict(o)
    return object_out(obj, [], [])


@router.post("/events/{ref}/objects", status_code=201, tags=["objects"])
def add_object(ref: str, data: ObjectIn, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    """Add an object built from a MISP object template (validated against it)."""
    obj = ev.add_object(db, ctx, ref, data)
    out = _object_detail(db, ctx, obj.id)
    db.commit()
    return out


@router.get("/objects/{ref}", tags=["objects"])
def get_object_route(ref: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    return _object_detail(db, ctx, ref)


@router.patch("/objects/{ref}", tags=["objects"])
def update_object(ref: str, data: ObjectUpdate, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    obj = ev.update_object(db, ctx, ref, data.model_dump(exclude_unset=True))
    out = _object_detail(db, ctx, obj.id)
    db.commit()
    return out


@router.delete("/objects/{ref}", status_code=204, tags=["objects"])
def delete_object(ref: str, ctx: CurrentCtx, db: WriteDB, hard: bool = False) -> Response:
    ev.delete_object(db, ctx, ref, hard=hard)
    db.commit()
    return Response(status_code=204)


@router.post("/objects/{ref}/references", status_code=201, tags=["objects"])
def add_reference(ref: str, data: ReferenceIn, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    out = reference_out(ev.add_reference(db, ctx, ref, data))
    db.commit()
    return out


@router.delete("/references/{ref_id}", status_code=204, tags=["objects"])
def delete_reference(
    ref_id: Annotated[int, Path(ge=0, le=DB_INT_MAX)], ctx: CurrentCtx, db: WriteDB
) -> Response:
    ev.delete_reference(db, ctx, ref_id)
    db.commit()
    return Response(status_code=204)


@router.get("/object-templates", tags=["objects"])
def list_templates(ctx: CurrentCtx, q: str | None = None) -> dict[str, Any]:
    from shieldwall.intel.templates import templates

    items = [
        {
            "name": t.name,
            "uuid": t.uuid,
            "version": t.version,
            "meta_category": t.meta_category,
            "description": t.description,
        }
        for t in sorted(templates().values(), key=lambda t: t.name)
        if not q or q.lower() in t.name.lower()
    ]
    return {"items": items}


@router.get("/object-templates/{ref}", tags=["objects"])
def get_template(ref: str, ctx: CurrentCtx) -> dict[str, Any]:
    from shieldwall.intel.errors import NotFound
    from shieldwall.intel.templates import by_name_or_uuid

    tpl = by_name_or_uuid(ref)
    if tpl is None:
        raise NotFound(f"object template {ref!r} not found", field="template")
    return tpl.summary()


# ---------------------------------------------------------------- tags


@router.get("/tags", tags=["tags"])
def list_tags(
    ctx: CurrentCtx,
    db: ReadDB,
    q: str | None = None,
    after: int = Query(0, ge=0, le=MAX_AFTER),
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    items = [tag_out(t) for t in tag_svc.list_tags(db, ctx, search=q, after=after, limit=limit)]
    return {"items": items, "next": items[-1]["id"] if len(items) == limit else None}


@router.post("/tags", status_code=201, tags=["tags"])
def create_tag(data: TagIn, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    out = tag_out(tag_svc.create_tag(db, ctx, data))
    db.commit()
    return out


@router.get("/tags/{ref}", tags=["tags"])
def get_tag(ref: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    return tag_out(tag_svc.get_tag(db, ctx, ref))


@router.patch("/tags/{ref}", tags=["tags"])
def update_tag(ref: str, data: TagUpdate, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    out = tag_out(tag_svc.update_tag(db, ctx, ref, data))
    db.commit()
    return out


@router.delete("/tags/{ref}", status_code=204, tags=["tags"])
def delete_tag(ref: str, ctx: CurrentCtx, db: WriteDB) -> Response:
    tag_svc.delete_tag(db, ctx, ref)
    db.commit()
    return Response(status_code=204)


# ---------------------------------------------------------------- sightings


@router.post("/sightings", status_code=201, tags=["sightings"])
def add_sightings(data: SightingCreate, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    """Sight an attribute by id/uuid, or every readable attribute with the given values."""
    rows = sights.add_sightings(db, ctx, data)
    out = {"items": [sighting_out(s, u) for s, u in rows], "count": len(rows)}
    db.commit()
    return out


@router.get("/sightings", tags=["sightings"])
def list_sightings(
    ctx: CurrentCtx,
    db: ReadDB,
    attribute: str | None = None,
    event: str | None = None,
    after: int = Query(0, ge=0, le=MAX_AFTER),
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    rows = sights.list_sightings(
        db, ctx, attribute=attribute, event=event, after=after, limit=limit
    )
    items = [sighting_out(s, u) for s, u in rows]
    return {"items": items, "next": items[-1]["id"] if len(items) == limit else None}


@router.delete("/sightings/{sighting_id}", status_code=204, tags=["sightings"])
def delete_sighting(
    sighting_id: Annotated[int, Path(ge=0, le=DB_INT_MAX)], ctx: CurrentCtx, db: WriteDB
) -> Response:
    sights.delete_sighting(db, ctx, sighting_id)
    db.commit()
    return Response(status_code=204)


# ---------------------------------------------------------------- sharing groups


@router.get("/sharing-groups", tags=["sharing groups"])
def list_sharing_groups(
    ctx: CurrentCtx,
    db: ReadDB,
    after: int = Query(0, ge=0, le=MAX_AFTER),
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    items = [
        sharing_group_out(s) for s in sgs.list_sharing_groups(db, ctx, after=after, limit=limit)
    ]
    return {"items": items, "next": items[-1]["id"] if len(items) == limit else None}


@router.post("/sharing-groups", status_code=201, tags=["sharing groups"])
def create_sharing_group(data: SharingGroupIn, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    out = sharing_group_out(sgs.create_sharing_group(db, ctx, data))
    db.commit()
    return out


@router.get("/sharing-groups/{ref}", tags=["sharing groups"])
def get_sharing_group(ref: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    return sharing_group_out(sgs.get_sharing_group(db, ctx, ref))


@router.patch("/sharing-groups/{ref}", tags=["sharing groups"])
def update_sharing_group(
    ref: str, data: SharingGroupUpdate, ctx: CurrentCtx, db: WriteDB
) -> dict[str, Any]:
    out = sharing_group_out(sgs.update_sharing_group(db, ctx, ref, data))
    db.commit()
    return out


@router.delete("/sharing-groups/{ref}", status_code=204, tags=["sharing groups"])
def delete_sharing_group(ref: str, ctx: CurrentCtx, db: WriteDB) -> Response:
    sgs.delete_sharing_group(db, ctx, ref)
    db.commit()
    return Response(status_code=204)


@router.post("/sharing-groups/{ref}/organisations", tags=["sharing groups"])
def add_sharing_group_org(
    ref: str, data: SharingGroupMemberIn, ctx: CurrentCtx, db: WriteDB
) -> dict[str, Any]:
    out = sharing_group_out(sgs.add_member(db, ctx, ref, data.org, data.extend))
    db.commit()
    return out


@router.delete("/sharing-groups/{ref}/organisations/{org}", tags=["sharing groups"])
def remove_sharing_group_org(ref: str, org: str, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    out = sharing_group_out(sgs.remove_member(db, ctx, ref, org))
    db.commit()
    return out
