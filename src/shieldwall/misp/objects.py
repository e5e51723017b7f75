"""MISP's object calls: add (from a template), view, exists, edit, delete, references, and
the object templates shipped with pymisp."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from shieldwall.api.deps import CurrentCtx, ReadDB, WriteDB
from shieldwall.intel import events as ev
from shieldwall.intel.common import get_event, get_object
from shieldwall.intel.errors import InvalidInput, NotFound
from shieldwall.intel.merge import merge_object
from shieldwall.intel.schemas import ObjectIn, ReferenceIn
from shieldwall.intel.serialize import object_detail, reference_out
from shieldwall.intel.templates import ObjectTemplate, by_name_or_uuid, templates
from shieldwall.misp.common import (
    flag,
    json_value,
    misp_ok,
    misp_router,
    named_params,
    unwrap,
    validated,
)
from shieldwall.misp.shapes import object_shape, reference_shape

router = misp_router()


async def _object_body(request: Request) -> dict[str, Any]:
    body = unwrap(await json_value(request), "Object")
    if not isinstance(body, dict):
        raise InvalidInput("send the object as a JSON object", field="Object")
    return body


def _answer(
    db: ReadDB, ctx: CurrentCtx, ref: str | int, include_deleted: bool = False
) -> dict[str, Any]:
    obj, _ = get_object(db, ctx, ref, include_deleted=include_deleted)
    return {"Object": object_shape(object_detail(db, ctx, obj, include_deleted=include_deleted))}


@router.post("/objects/add/{event_ref}")
@router.post("/objects/add/{event_ref}/{named:path}")
async def add_object(
    request: Request, event_ref: str, ctx: CurrentCtx, db: WriteDB, named: str = ""
) -> dict[str, Any]:
    params = named_params(named) if ":" in named else {}
    body = await _object_body(request)
    if named and ":" not in named and not body.get("template_uuid"):
        body["template_uuid"] = named  # objects/add/{event}/{template}: MISP's older form
    data = validated(ObjectIn, body)
    event = get_event(db, ctx, event_ref)
    if flag(params.get("breakOnDuplicate")):
        ev.refuse_duplicate_object(db, ctx, event.id, data)
    obj = ev.add_object(db, ctx, event.id, data)
    out = _answer(db, ctx, obj.id)
    db.commit()
    return out


@router.get("/objects/view/{ref}")
def view_object(ref: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    return _answer(db, ctx, ref)


@router.head("/objects/view/{ref}")
def object_exists(ref: str, ctx: CurrentCtx, db: ReadDB) -> Response:
    get_object(db, ctx, ref)
    return Response(status_code=200)


@router.post("/objects/edit/{ref}")
async def edit_object(request: Request, ref: str, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    body = await _object_body(request)
    data = validated(ObjectIn, body)
    obj, _ = get_object(db, ctx, ref)
    merge_object(db, ctx, obj.id, data)
    out = _answer(db, ctx, obj.id, include_deleted=True)
    db.commit()
    return out


@router.post("/objects/delete/{ref}")
@router.post("/objects/delete/{ref}/{hard}")
@router.delete("/objects/delete/{ref}")
async def delete_object(
    request: Request, ref: str, ctx: CurrentCtx, db: WriteDB, hard: str | None = None
) -> dict[str, Any]:
    body = await json_value(request)
    hard_delete = bool(flag(hard)) or (isinstance(body, dict) and bool(flag(body.get("hard"))))
    obj, _ = get_object(db, ctx, ref, include_deleted=hard_delete)
    ev.delete_object(db, ctx, obj.id, hard=hard_delete)
    db.commit()
    return misp_ok("Object deleted.", request.url.path, id=str(obj.id))


@router.post("/objectReferences/add")
@router.post("/objectReferences/add/{object_ref}")
async def add_reference(
    request: Request, ctx: CurrentCtx, db: WriteDB, object_ref: str | None = None
) -> dict[str, Any]:
    body = unwrap(await json_value(request), "ObjectReference")
    if not isinstance(body, dict):
        raise InvalidInput("send the reference as a JSON object", field="ObjectReference")
    source = object_ref or body.get("object_uuid") or body.get("object_id")
    if source in (None, "", 0, "0"):
        raise InvalidInput("name the object: object_uuid or object_id", field="object_uuid")
    data = validated(ReferenceIn, body)
    ref = ev.add_reference(db, ctx, str(source), data)
    out = {"ObjectReference": reference_shape(reference_out(ref))}
    db.commit()
    return out


@router.post("/objectReferences/delete/{ref_id}")
@router.post("/objectReferences/delete/{ref_id}/{hard}")
def delete_reference(
    request: Request, ref_id: str, ctx: CurrentCtx, db: WriteDB, hard: str | None = None
) -> dict[str, Any]:
    target = ev.delete_reference(db, ctx, ref_id)
    db.commit()
    return misp_ok("ObjectReference deleted.", request.url.path, id=str(target))


def _template_shape(t: ObjectTemplate, *, full: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ObjectTemplate": {
            "id": t.uuid,
            "uuid": t.uuid,
            "name": t.name,
            "description": t.description,
            "meta-category": t.meta_category,
            "version": str(t.version),
            "active": True,
            "fixed": True,
            "requirements": {
                "required": list(t.required),
                "requiredOneOf": list(t.required_one_of),
            },
        }
    }
    if full:
        out["ObjectTemplateElement"] = [
            {
                "object_relation": rel,
                "type": spec.get("misp-attribute"),
                "ui-priority": spec.get("ui-priority", 0),
                "categories": spec.get("categories", []),
                "sane_default": spec.get("sane_default", []),
                "values_list": spec.get("values_list", []),
                "description": spec.get("description", ""),
                "disable_correlation": bool(spec.get("disable_correlation", False)),
                "multiple": bool(spec.get("multiple", False)),
            }
            for rel, spec in t.attributes.items()
        ]
    return out


def _template(ref: str) -> ObjectTemplate:
    t = by_name_or_uuid(ref)
    if t is None:
        raise NotFound(f"object template {ref} not found", field="template")
    return t


@router.get("/objectTemplates/index")
@router.get("/objectTemplates")
def list_templates(ctx: CurrentCtx) -> list[dict[str, Any]]:
    return [_template_shape(t) for t in sorted(templates().values(), key=lambda t: t.name)]


@router.get("/objectTemplates/view/{ref}")
def view_template(ref: str, ctx: CurrentCtx) -> dict[str, Any]:
    return _template_shape(_template(ref), full=True)


@router.get("/objectTemplates/getRaw/{ref}")
def raw_template(ref: str, ctx: CurrentCtx) -> dict[str, Any]:
    return _template(ref).raw()


@router.post("/objectTemplates/update")
def update_templates(request: Request, ctx: CurrentCtx) -> dict[str, Any]:
    # Templates come from the installed pymisp package: upgrading it updates them.
    count = len(templates())
    return misp_ok(
        f"{count} object templates are loaded from the installed pymisp package",
        request.url.path,
    )
