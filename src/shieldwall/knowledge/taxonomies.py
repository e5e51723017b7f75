"""Taxonomies from pytaxonomies; which are enabled (and required) is stored per instance."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from pytaxonomies import Taxonomies
from pytaxonomies import Taxonomy as TaxonomyData
from sqlalchemy.orm import Session

from shieldwall.audit.service import record
from shieldwall.auth.permissions import Permission
from shieldwall.auth.service import require
from shieldwall.context import Ctx
from shieldwall.ids import as_id
from shieldwall.intel.common import colour_for
from shieldwall.intel.errors import NotFound
from shieldwall.intel.models import Tag
from shieldwall.knowledge.models import Taxonomy


@lru_cache(maxsize=1)
def library() -> Taxonomies:
    return Taxonomies()


def sync(session: Session) -> int:
    """Add the taxonomies the installed package has and the table lacks (and refresh
    versions); returns how many were added. Enabled flags are kept."""
    rows = {t.namespace: t for t in session.execute(sa.select(Taxonomy)).scalars()}
    added = 0
    for namespace, data in sorted(library().items()):
        row = rows.get(namespace)
        if row is None:
            session.add(Taxonomy(namespace=namespace, version=int(data.version or 1)))
            added += 1
        elif row.version != int(data.version or 1):
            row.version = int(data.version or 1)
    session.flush()
    return added


def list_taxonomies(session: Session) -> list[tuple[Taxonomy, TaxonomyData]]:
    lib = library()
    rows = session.execute(sa.select(Taxonomy).order_by(Taxonomy.namespace)).scalars()
    return [(row, lib[row.namespace]) for row in rows if row.namespace in lib]


def get_taxonomy(session: Session, ref: str | int) -> tuple[Taxonomy, TaxonomyData]:
    ident = as_id(ref)
    cond = Taxonomy.id == ident if ident is not None else Taxonomy.namespace == str(ref)
    row = session.execute(sa.select(Taxonomy).where(cond)).scalar_one_or_none()
    if row is None or row.namespace not in library():
        raise NotFound(f"taxonomy {ref} not found", field="taxonomy")
    return row, library()[row.namespace]


def entries(data: TaxonomyData) -> list[dict[str, Any]]:
    """Every tag of a taxonomy with its expanded name and description."""
    out = []
    for pred_name, pred in data.predicates.items():
        if pred.entries:
            for value, entry in pred.entries.items():
                out.append(
                    {
                        "tag": f'{data.name}:{pred_name}="{value}"',
                        "expanded": entry.expanded or value,
                        "description": entry.description or "",
                        "numerical_value": entry.numerical_value,
                        "exclusive_predicate": bool(pred.exclusive),
                    }
                )
        else:
            out.append(
                {
                    "tag": f"{data.name}:{pred_name}",
                    "expanded": pred.expanded or pred_name,
                    "description": pred.description or "",
                    "numerical_value": pred.numerical_value,
                    "exclusive_predicate": False,
                }
            )
    return out


def set_enabled(session: Session, ctx: Ctx, ref: str | int, enabled: bool) -> Taxonomy:
    require(ctx, Permission.SITE_ADMIN)
    row, _ = get_taxonomy(session, ref)
    if row.enabled != enabled:
        row.enabled = enabled
        session.flush()
        record(
            session,
            ctx.actor,
            "enable" if enabled else "disable",
            "Taxonomy",
            model_id=row.id,
            title=row.namespace,
        )
    return row


def set_required(session: Session, ctx: Ctx, ref: str | int, required: bool) -> Taxonomy:
    require(ctx, Permission.SITE_ADMIN)
    row, _ = get_taxonomy(session, ref)
    row.required = required
    session.flush()
    record(
        session,
        ctx.actor,
        "update",
        "Taxonomy",
        model_id=row.id,
        title=row.namespace,
        change={"required": required},
    )
    return row


def set_tags_shown(session: Session, ctx: Ctx, ref: str | int, shown: bool) -> int:
    """MISP's addTag / disableTag: create (and show) every tag of the taxonomy, or hide
    the ones that exist. Returns how many tags were created or changed."""
    require(ctx, Permission.SITE_ADMIN)
    row, data = get_taxonomy(session, ref)
    names = [e["tag"] for e in entries(data)]
    existing = {
        t.name: t
        for i in range(0, len(names), 500)
        for t in session.execute(sa.select(Tag).where(Tag.name.in_(names[i : i + 500]))).scalars()
    }
    changed = 0
    for e in entries(data):
        tag = existing.get(e["tag"])
        if tag is None and shown:
            session.add(
                Tag(
                    name=e["tag"],
                    colour=colour_for(e["tag"]),
                    numerical_value=e["numerical_value"],
                )
            )
            changed += 1
        elif tag is not None and tag.hide_tag == shown:
            tag.hide_tag = not shown
            changed += 1
    session.flush()
    record(
        session,
        ctx.actor,
        "update",
        "Taxonomy",
        model_id=row.id,
        title=row.namespace,
        change={"tags_shown" if shown else "tags_hidden": changed},
    )
    return changed


def update(session: Session, ctx: Ctx) -> int:
    require(ctx, Permission.SITE_ADMIN)
    added = sync(session)
    record(session, ctx.actor, "update", "Taxonomy", title="taxonomies", change={"added": added})
    return added
