"""TAXII collections: saved searches over the intel store with read and write rights per
organisation. Site admins manage them (audited); everyone else sees only the collections
their organisation may read or write."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shieldwall.audit.service import record
from shieldwall.auth.permissions import Permission
from shieldwall.auth.service import get_org, require
from shieldwall.context import Ctx
from shieldwall.ids import as_id
from shieldwall.intel.common import is_uuid
from shieldwall.intel.errors import Conflict, InvalidInput, NotFound
from shieldwall.intel.models import SharingGroup
from shieldwall.intel.types import type_table
from shieldwall.taxii.models import TaxiiCollection, TaxiiCollectionOrg

Ref = str | int


class CollectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=255)
    description: str = ""
    alias: str | None = Field(default=None, min_length=1, max_length=255)
    # The saved search: events with any of these tags, created by any of these organisations,
    # shared with any of these sharing groups; attributes of these types; published only.
    tags: list[str] = []
    orgs: list[Ref] = []
    sharing_groups: list[Ref] = []
    types: list[str] = []
    published_only: bool = False
    # Organisations whose users may read, and write, the collection.
    readers: list[Ref] = []
    writers: list[Ref] = []
    # Events made from objects posted to the collection: this community (1) by default, so
    # the collection's other readers see them; a sharing group (4) to keep them to a circle.
    distribution: int = Field(default=1, ge=0, le=4)
    sharing_group: Ref | None = None


class CollectionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = None
    alias: str | None = Field(default=None, max_length=255)
    tags: list[str] | None = None
    orgs: list[Ref] | None = None
    sharing_groups: list[Ref] | None = None
    types: list[str] | None = None
    published_only: bool | None = None
    readers: list[Ref] | None = None
    writers: list[Ref] | None = None
    distribution: int | None = Field(default=None, ge=0, le=4)
    sharing_group: Ref | None = None


@dataclass(frozen=True)
class Access:
    """A collection as one caller may use it."""

    collection: TaxiiCollection
    can_read: bool
    can_write: bool


def _rights(ctx: Ctx, coll: TaxiiCollection) -> Access:
    if ctx.principal.is_site_admin:
        return Access(coll, True, True)
    for r in coll.rights:
        if r.org_id == ctx.org_id:
            return Access(coll, r.can_read, r.can_write)
    return Access(coll, False, False)


def list_collections(session: Session, ctx: Ctx) -> list[Access]:
    """The collections the caller may read or write, with what they may do."""
    query = sa.select(TaxiiCollection).order_by(TaxiiCollection.id)
    if not ctx.principal.is_site_admin:
        query = query.where(
            TaxiiCollection.id.in_(
                sa.select(TaxiiCollectionOrg.collection_id).where(
                    TaxiiCollectionOrg.org_id == ctx.org_id,
                    sa.or_(TaxiiCollectionOrg.can_read, TaxiiCollectionOrg.can_write),
                )
            )
        )
    return [_rights(ctx, c) for c in session.execute(query).scalars()]


def _find(session: Session, ref: Ref) -> TaxiiCollection | None:
    ident = as_id(ref)
    if ident is not None:
        cond = TaxiiCollection.id == ident
    elif is_uuid(str(ref)):
        cond = TaxiiCollection.uuid == str(ref).lower()
    else:
        cond = sa.or_(TaxiiCollection.alias == str(ref), TaxiiCollection.title == str(ref))
    return session.execute(sa.select(TaxiiCollection).where(cond)).scalar_one_or_none()


def get_collection(session: Session, ctx: Ctx, ref: Ref) -> Access:
    """A collection the caller may read or write; to anyone else it does not exist."""
    coll = _find(session, ref)
    access = _rights(ctx, coll) if coll is not None else None
    if access is None or not (access.can_read or access.can_write):
        raise NotFound(f"collection {ref} not found", field="collection")
    return access


def _org_ids(session: Session, refs: list[Ref], field: str) -> list[int]:
    out = []
    for i, ref in enumerate(refs):
        try:
            out.append(get_org(session, ref).id)
        except NotFound:
            raise InvalidInput(f"organisation {ref!r} not found", field=f"{field}[{i}]") from None
    return sorted(set(out))


def _sharing_group_id(session: Session, ref: Ref, field: str) -> int:
    ident = as_id(ref)
    cond = (
        SharingGroup.id == ident
        if ident is not None
        else sa.or_(SharingGroup.uuid == str(ref), SharingGroup.name == str(ref))
    )
    found = session.execute(sa.select(SharingGroup.id).where(cond)).scalar_one_or_none()
    if found is None:
        raise InvalidInput(f"sharing group {ref!r} not found", field=field)
    return int(found)


def _sharing_group_ids(session: Session, refs: list[Ref]) -> list[int]:
    return sorted(
        {_sharing_group_id(session, ref, f"sharing_groups[{i}]") for i, ref in enumerate(refs)}
    )


def _apply_distribution(session: Session, values: dict[str, Any], put: Any) -> None:
    """The posted events' distribution; a sharing group goes with 4 and only with it."""
    if values.get("distribution") is not None:
        put("distribution", values["distribution"])
    if values.get("sharing_group") is not None:
        put(
            "sharing_group_id", _sharing_group_id(session, values["sharing_group"], "sharing_group")
        )


def _check_distribution(coll: TaxiiCollection, values: dict[str, Any], put: Any) -> None:
    if coll.distribution == 4 and coll.sharing_group_id is None:
        raise InvalidInput(
            "distribution 4 (a sharing group) needs sharing_group", field="sharing_group"
        )
    if coll.distribution != 4 and coll.sharing_group_id is not None:
        if values.get("sharing_group") is not None:
            raise InvalidInput(
                f"a sharing group goes with distribution 4, not {coll.distribution}",
                field="sharing_group",
            )
        put("sharing_group_id", None)  # the distribution left the sharing group


def _types(values: list[str]) -> list[str]:
    known = set(type_table().types)
    for i, t in enumerate(values):
        if t not in known:
            raise InvalidInput(f"{t!r} is not a MISP attribute type", field=f"types[{i}]")
    return sorted(set(values))


def _apply(session: Session, coll: TaxiiCollection, values: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}

    def put(name: str, value: Any) -> None:
        if getattr(coll, name) != value:
            changes[name] = [getattr(coll, name), value]
            setattr(coll, name, value)

    for name in ("title", "description", "published_only"):
        if values.get(name) is not None:
            put(name, values[name])
    if "alias" in values:
        put("alias", values["alias"] or None)
    if values.get("tags") is not None:
        put("tags", sorted({t.strip() for t in values["tags"] if t.strip()}))
    if values.get("orgs") is not None:
        put("org_ids", _org_ids(session, values["orgs"], "orgs"))
    if values.get("sharing_groups") is not None:
        put("sharing_group_ids", _sharing_group_ids(session, values["sharing_groups"]))
    if values.get("types") is not None:
        put("types", _types(values["types"]))
    _apply_distribution(session, values, put)
    _check_distribution(coll, values, put)
    readers = values.get("readers")
    writers = values.get("writers")
    if readers is not None or writers is not None:
        current = {r.org_id: r for r in coll.rights}
        read_ids = (
            set(_org_ids(session, readers, "readers"))
            if readers is not None
            else {o for o, r in current.items() if r.can_read}
        )
        write_ids = (
            set(_org_ids(session, writers, "writers"))
            if writers is not None
            else {o for o, r in current.items() if r.can_write}
        )
        # Rows are changed in place: a replaced row would be inserted before the old one is
        # deleted and clash with it on (collection, organisation).
        for org_id, right in current.items():
            if org_id not in read_ids | write_ids:
                coll.rights.remove(right)
        for org_id in sorted(read_ids | write_ids):
            right = current.get(org_id) or TaxiiCollectionOrg(org_id=org_id)
            right.can_read, right.can_write = org_id in read_ids, org_id in write_ids
            if org_id not in current:
                coll.rights.append(right)
        changes["readers"] = sorted(read_ids)
        changes["writers"] = sorted(write_ids)
    return changes


def _flush(session: Session) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict("a collection with this title or alias exists", field="title") from None


def _audit(
    session: Session, ctx: Ctx, action: str, coll: TaxiiCollection, changes: Any = None
) -> None:
    record(
        session,
        ctx.actor,
        action,
        "TaxiiCollection",
        model_id=coll.id,
        model_uuid=coll.uuid,
        title=coll.title,
        change=changes,
    )


def create_collection(session: Session, ctx: Ctx, data: CollectionIn) -> TaxiiCollection:
    require(ctx, Permission.SITE_ADMIN)
    coll = TaxiiCollection()
    session.add(coll)
    changes = _apply(session, coll, data.model_dump())
    _flush(session)
    _audit(session, ctx, "create", coll, changes)
    return coll


def _managed(session: Session, ctx: Ctx, ref: Ref) -> TaxiiCollection:
    require(ctx, Permission.SITE_ADMIN)
    coll = _find(session, ref)
    if coll is None:
        raise NotFound(f"collection {ref} not found", field="collection")
    return coll


def update_collection(
    session: Session, ctx: Ctx, ref: Ref, data: CollectionUpdate
) -> TaxiiCollection:
    coll = _managed(session, ctx, ref)
    changes = _apply(session, coll, {n: getattr(data, n) for n in data.model_fields_set})
    _flush(session)
    _audit(session, ctx, "update", coll, changes)
    return coll


def delete_collection(session: Session, ctx: Ctx, ref: Ref) -> None:
    """The collection goes with the objects posted to it; the events they became stay."""
    coll = _managed(session, ctx, ref)
    _audit(session, ctx, "delete", coll)
    session.delete(coll)
    session.flush()


def collection_out(access: Access) -> dict[str, Any]:
    """The native API's view (the TAXII view is built by the TAXII adapter)."""
    c = access.collection
    return {
        "id": c.id,
        "uuid": c.uuid,
        "title": c.title,
        "description": c.description,
        "alias": c.alias,
        "tags": c.tags,
        "org_ids": c.org_ids,
        "sharing_group_ids": c.sharing_group_ids,
        "types": c.types,
        "published_only": c.published_only,
        "distribution": c.distribution,
        "sharing_group_id": c.sharing_group_id,
        "readers": [r.org_id for r in c.rights if r.can_read],
        "writers": [r.org_id for r in c.rights if r.can_write],
        "can_read": access.can_read,
        "can_write": access.can_write,
    }
