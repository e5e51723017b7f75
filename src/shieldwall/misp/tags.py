"""MISP's tags calls: list, view, add, edit, delete, search; attach to and remove from the
event or attribute a uuid names."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from shieldwall.api.deps import CurrentCtx, ReadDB, WriteDB
from shieldwall.ids import as_id
from shieldwall.intel import tags as tag_svc
from shieldwall.intel.common import is_uuid
from shieldwall.intel.errors import DomainError, InvalidInput
from shieldwall.intel.models import Tag
from shieldwall.intel.schemas import TagIn, TagUpdate
from shieldwall.misp.common import (
    flag,
    json_body,
    misp_ok,
    misp_router,
    named_params,
    text_param,
    validated,
)

router = misp_router()

# A page of the tag list read at a time; MISP's index answers every tag at once.
_PAGE = 1000
# The tag fields MISP's add and edit carry that Shieldwall stores.
_EDITABLE = ("name", "colour", "exportable", "hide_tag", "local_only", "numerical_value")


def _galaxy_flags(name: str) -> tuple[bool, bool]:
    """(is_galaxy, is_custom_galaxy): a galaxy cluster tag reads misp-galaxy:<galaxy>="<value>";
    a custom cluster's value is its uuid."""
    prefix, _, rest = name.partition(":")
    galaxy, equals, value = rest.partition("=")
    if prefix.lower() != "misp-galaxy" or not galaxy or not equals:
        return False, False
    if len(value) < 3 or value[0] != '"' or value[-1] != '"' or '"' in value[1:-1]:
        return False, False
    return True, is_uuid(value[1:-1])


def tag_definition_shape(tag: Tag, usage: tuple[int, int] | None = None) -> dict[str, Any]:
    """A tag as MISP's tags calls answer it; usage adds the readable event and attribute
    counts."""
    is_galaxy, is_custom_galaxy = _galaxy_flags(tag.name)
    out: dict[str, Any] = {
        "id": str(tag.id),
        "name": tag.name,
        "colour": tag.colour,
        "exportable": tag.exportable,
        "org_id": str(tag.org_id or 0),
        "user_id": "0",
        "hide_tag": tag.hide_tag,
        "numerical_value": tag.numerical_value,
        "is_galaxy": is_galaxy,
        "is_custom_galaxy": is_custom_galaxy,
        "local_only": tag.local_only,
    }
    if usage is not None:
        out["count"] = usage[0]
        out["attribute_count"] = usage[1]
    return out


def _tag_body(body: dict[str, Any]) -> dict[str, Any]:
    """MISP sends a tag bare or wrapped in {"Tag": ...} (its forms: {"Tag": {"request": ...}})."""
    data = body.get("Tag", body)
    if isinstance(data, dict) and isinstance(data.get("request"), dict):
        data = data["request"]
    if not isinstance(data, dict):
        raise InvalidInput("Tag is an object", field="Tag")
    return data


def _org_id(value: Any) -> int | None:
    """MISP's "0" (or nothing) is a tag for every organisation."""
    if value in (None, "", 0, "0"):
        return None
    ident = as_id(value) if isinstance(value, (int, str)) else None
    if ident is None:
        raise InvalidInput("org_id is an organisation id", field="org_id")
    return ident


def _no_user_restriction(data: dict[str, Any]) -> None:
    # MISP can keep a tag to one user; Shieldwall restricts tags to organisations only.
    if data.get("user_id") not in (None, "", 0, "0"):
        raise InvalidInput("tags cannot be restricted to one user", field="user_id")


def _editable_fields(data: dict[str, Any]) -> dict[str, Any]:
    out = {k: data[k] for k in _EDITABLE if k in data}
    if out.get("numerical_value") == "":
        out["numerical_value"] = None
    if out.get("colour") in (None, ""):
        out.pop("colour", None)
    return out


def _params(request: Request, named: str, body: dict[str, Any]) -> dict[str, Any]:
    """A MISP call's parameters: the body, the query string, then CakePHP named ones."""
    params: dict[str, Any] = dict(body)
    params.update(request.query_params)
    params.update(named_params(named))
    return params


# ---------------------------------------------------------------- definitions


@router.get("/tags/index")
@router.post("/tags/index")
@router.get("/tags/index/{named:path}")
@router.post("/tags/index/{named:path}")
async def index(request: Request, ctx: CurrentCtx, db: ReadDB, named: str = "") -> dict[str, Any]:
    body = await json_body(request) if request.method == "POST" else {}
    params = _params(request, named, body)
    if flag(params.get("favouritesOnly")):
        # Shieldwall keeps no favourite tags.
        return {"Tag": []}
    searchall = text_param(params.get("searchall"), "searchall")
    name = None
    for key in ("name", "filter", "search"):
        name = text_param(params.get(key), key) or name
    tags: list[Tag] = []
    after = 0
    while True:
        page = tag_svc.list_tags(
            db,
            ctx,
            search=f"%{searchall}%" if searchall else None,
            name=name,
            after=after,
            limit=_PAGE,
        )
        tags.extend(page)
        if len(page) < _PAGE:
            break
        after = page[-1].id
    tags.sort(key=lambda t: t.name.lower())
    usage = None if flag(params.get("exclude_statistics")) else tag_svc.tag_usage(db, ctx)
    out = []
    for tag in tags:
        shape = tag_definition_shape(tag, None if usage is None else usage.get(tag.id, (0, 0)))
        shape["favourite"] = False
        out.append(shape)
    return {"Tag": out}


@router.get("/tags/view/{ref}")
def view(ref: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    tag = tag_svc.get_tag(db, ctx, ref)
    return tag_definition_shape(tag, tag_svc.tag_usage(db, ctx, tag.id).get(tag.id, (0, 0)))


@router.post("/tags/add")
async def add(request: Request, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    data = _tag_body(await json_body(request))
    _no_user_restriction(data)
    fields = _editable_fields(data)
    fields["org_id"] = _org_id(data.get("org_id"))
    tag, _ = tag_svc.add_tag(db, ctx, validated(TagIn, fields))
    out = tag_definition_shape(tag)
    db.commit()
    return {"Tag": out}


@router.post("/tags/edit/{ref}")
@router.put("/tags/edit/{ref}")
async def edit(ref: str, request: Request, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    data = _tag_body(await json_body(request))
    _no_user_restriction(data)
    tag = tag_svc.update_tag(db, ctx, ref, validated(TagUpdate, _editable_fields(data)))
    if "org_id" in data and _org_id(data["org_id"]) != tag.org_id:
        # Not stored: the request's session is rolled back, nothing of the edit lands.
        raise InvalidInput("a tag's organisation cannot be changed", field="org_id")
    out = tag_definition_shape(tag)
    db.commit()
    return {"Tag": out}


@router.post("/tags/delete/{ref}")
def delete(ref: str, request: Request, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    tag_svc.delete_tag(db, ctx, ref)
    db.commit()
    return misp_ok("Tag deleted.", request.url.path)


@router.get("/tags/search")
@router.post("/tags/search")
@router.get("/tags/search/{term}")
@router.post("/tags/search/{term}")
@router.get("/tags/search/{term}/{strict}")
@router.post("/tags/search/{term}/{strict}")
async def search(
    request: Request,
    ctx: CurrentCtx,
    db: ReadDB,
    term: str | None = None,
    strict: str | None = None,
) -> list[dict[str, Any]]:
    """By the path (/tags/search/<name>/<strict>) or a body: {"tag": ...} as MISP reads it, or
    PyMISP's {"tagname": ..., "strict_tagname": ...}. Loose names are patterns (`%`)."""
    body = await json_body(request) if request.method == "POST" else {}
    data = _tag_body(body)
    terms: Any = term
    exact = flag(strict)
    if terms is None:
        if "tagname" in data:
            terms, exact = data["tagname"], flag(data.get("strict_tagname"))
        else:
            terms = data.get("tag", data.get("name"))
    if isinstance(terms, (str, int)) and not isinstance(terms, bool):
        terms = [str(terms)]
    if (
        not isinstance(terms, list)
        or not terms
        or not all(isinstance(t, (str, int)) and not isinstance(t, bool) for t in terms)
    ):
        raise InvalidInput("tagname is a tag name or a list of them", field="tagname")
    tags = tag_svc.search_tags(db, ctx, [str(t) for t in terms], strict=bool(exact))
    return [{"Tag": tag_definition_shape(t)} for t in tags]


# ---------------------------------------------------------------- attaching


def _uuid_param(value: Any) -> str:
    if value in (None, ""):
        raise InvalidInput("uuid names the event or attribute to tag", field="uuid")
    if not isinstance(value, str):
        raise InvalidInput("uuid is text", field="uuid")
    return value


def _tag_refs(value: Any) -> list[str]:
    """A tag, or a list of them, each by name or id."""
    items = value if isinstance(value, list) else [value]
    refs = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            raise InvalidInput("tag is a tag name or id, or a list of them", field="tag")
        if str(item).strip():
            refs.append(str(item))
    if not refs:
        raise InvalidInput("tag names the tag (its name or id)", field="tag")
    return refs


def _local(value: Any) -> bool:
    if value in (None, ""):
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, str)) and str(value).strip().lower() in ("0", "1", "true", "false"):
        return str(value).strip().lower() in ("1", "true")
    raise InvalidInput("local is true or false", field="local")


@router.post("/tags/attachTagToObject")
@router.post("/tags/attachTagToObject/{uuid}")
@router.post("/tags/attachTagToObject/{uuid}/{tag}")
@router.post("/tags/attachTagToObject/{uuid}/{tag}/{local}")
async def attach(
    request: Request,
    ctx: CurrentCtx,
    db: WriteDB,
    uuid: str | None = None,
    tag: str | None = None,
    local: str | None = None,
) -> dict[str, Any]:
    body = await json_body(request)
    if body.get("relationship_type") not in (None, ""):
        raise InvalidInput("tag relationship types are not supported", field="relationship_type")
    target_ref = _uuid_param(uuid or body.get("uuid"))
    refs = _tag_refs(tag or body.get("tag"))
    is_local = _local(local if local is not None else body.get("local"))
    try:
        target, added = tag_svc.attach_tags(db, ctx, target_ref, refs, local=is_local)
    except DomainError as exc:
        # The services name the list of tags they were given; MISP's call names one field.
        if exc.field == "tags":
            exc.field = "tag"
        raise
    db.commit()
    scope = "Local" if is_local else "Global"
    what = f"{target.kind} ({target.id})"
    if added:
        message = f"{scope} tag(s) {', '.join(added)} attached to {what}."
    else:
        message = f"{what} already carries the tag; nothing changed."
    return misp_ok(message, "/tags/attachTagToObject")


@router.post("/tags/removeTagFromObject")
@router.post("/tags/removeTagFromObject/{uuid}")
@router.post("/tags/removeTagFromObject/{uuid}/{tag}")
async def remove(
    request: Request,
    ctx: CurrentCtx,
    db: WriteDB,
    uuid: str | None = None,
    tag: str | None = None,
) -> dict[str, Any]:
    body = await json_body(request)
    target_ref = _uuid_param(uuid or body.get("uuid"))
    refs = _tag_refs(tag or body.get("tag"))
    if len(refs) > 1:
        raise InvalidInput("remove one tag at a time", field="tag")
    target, name = tag_svc.detach_tag(db, ctx, target_ref, refs[0])
    db.commit()
    return misp_ok(
        f"Tag {name} removed from {target.kind} ({target.id}).", "/tags/removeTagFromObject"
    )
