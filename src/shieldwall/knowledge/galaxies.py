"""Galaxies and their clusters from pymispgalaxies (MITRE ATT&CK among them). Galaxies are
stored when first needed; a galaxy's clusters are stored the first time that galaxy is
opened, so ids stay stable and an instance never loads 45,000 clusters it does not use.
A cluster is attached to events and attributes as its tag, misp-galaxy:TYPE="VALUE"."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from pymispgalaxies import Clusters, Galaxies
from sqlalchemy.orm import Session

from shieldwall.audit.service import record
from shieldwall.auth.permissions import Permission
from shieldwall.auth.service import require
from shieldwall.context import Ctx
from shieldwall.db.engine import get_database
from shieldwall.ids import as_id
from shieldwall.intel import events as ev
from shieldwall.intel.common import colour_for, is_uuid
from shieldwall.intel.errors import InvalidInput, NotFound
from shieldwall.intel.models import Tag
from shieldwall.intel.schemas import TagRef
from shieldwall.knowledge.models import Galaxy, GalaxyCluster

_TAG = re.compile(r'^misp-galaxy:([^=]+)="(.*)"$')


@lru_cache(maxsize=1)
def galaxy_library() -> Galaxies:
    return Galaxies()


@lru_cache(maxsize=1)
def cluster_library() -> Clusters:
    return Clusters()


def tag_name(galaxy_type: str, value: str) -> str:
    return f'misp-galaxy:{galaxy_type}="{value}"'


def sync(session: Session) -> int:
    rows = {g.type: g for g in session.execute(sa.select(Galaxy)).scalars()}
    added = 0
    for gtype, data in sorted(galaxy_library().items()):
        row = rows.get(gtype)
        fields = {
            "uuid": data.uuid,
            "name": data.name,
            "namespace": getattr(data, "namespace", None) or "misp",
            "description": data.description or "",
            "version": int(data.version or 1),
            "icon": data.icon or "",
        }
        if row is None:
            session.add(Galaxy(type=gtype, **fields))
            added += 1
        else:
            if row.version != fields["version"]:
                row.clusters_loaded = False  # newer clusters: load again when opened
            for k, v in fields.items():
                setattr(row, k, v)
    session.flush()
    return added


def list_galaxies(session: Session, search: str | None = None) -> list[Galaxy]:
    q = sa.select(Galaxy).order_by(Galaxy.name)
    if search:
        like = f"%{search.lower()}%"
        q = q.where(
            sa.or_(
                sa.func.lower(Galaxy.name).like(like),
                sa.func.lower(Galaxy.namespace).like(like),
                sa.func.lower(Galaxy.description).like(like),
                Galaxy.uuid == search.lower(),
            )
        )
    return list(session.execute(q).scalars())


def get_galaxy(session: Session, ref: str | int) -> Galaxy:
    ident = as_id(ref)
    if ident is not None:
        cond = Galaxy.id == ident
    elif is_uuid(str(ref)):
        cond = Galaxy.uuid == str(ref).lower()
    else:
        cond = Galaxy.type == str(ref)
    row = session.execute(sa.select(Galaxy).where(cond)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"galaxy {ref} not found", field="galaxy")
    return row


def load_clusters(session: Session, galaxy: Galaxy) -> None:
    """Store this galaxy's clusters (once per galaxy version)."""
    if galaxy.clusters_loaded:
        return
    data = cluster_library().get(galaxy.type)
    have = {
        u: cid
        for u, cid in session.execute(
            sa.select(GalaxyCluster.uuid, GalaxyCluster.id).where(
                GalaxyCluster.galaxy_id == galaxy.id
            )
        ).all()
    }
    rows = []
    seen: set[str] = set()
    for value in data.cluster_values.values() if data is not None else []:
        uuid = str(value.uuid).lower() if value.uuid else None
        if not uuid or uuid in seen:
            continue
        seen.add(uuid)
        meta = value.meta.to_dict() if value.meta else {}
        row = {
            "uuid": uuid,
            "galaxy_id": galaxy.id,
            "value": value.value,
            "tag_name": tag_name(galaxy.type, value.value)[:255],
            "description": value.description or "",
            "meta": {k: sorted(v) if isinstance(v, set) else v for k, v in meta.items()},
        }
        if uuid in have:
            session.execute(
                sa.update(GalaxyCluster).where(GalaxyCluster.id == have[uuid]).values(**row)
            )
        else:
            rows.append(row)
    taken = set()
    if rows:
        # A uuid another galaxy already holds stays with that galaxy.
        uuids = [r["uuid"] for r in rows]
        for i in range(0, len(uuids), 500):
            taken |= set(
                session.execute(
                    sa.select(GalaxyCluster.uuid).where(GalaxyCluster.uuid.in_(uuids[i : i + 500]))
                ).scalars()
            )
        fresh = [r for r in rows if r["uuid"] not in taken]
        for i in range(0, len(fresh), 1000):
            session.execute(sa.insert(GalaxyCluster), fresh[i : i + 1000])
    galaxy.clusters_loaded = True
    session.flush()


def clusters(session: Session, galaxy: Galaxy, search: str | None = None) -> list[GalaxyCluster]:
    load_clusters(session, galaxy)
    q = sa.select(GalaxyCluster).where(GalaxyCluster.galaxy_id == galaxy.id)
    if search:
        like = f"%{search.lower()}%"
        q = q.where(
            sa.or_(
                sa.func.lower(GalaxyCluster.value).like(like),
                sa.func.lower(GalaxyCluster.description).like(like),
                GalaxyCluster.uuid == search.lower(),
            )
        )
    return list(session.execute(q.order_by(GalaxyCluster.value)).scalars())


def _galaxy_of_cluster_uuid(uuid: str) -> str | None:
    for gtype, data in cluster_library().items():
        for value in data.cluster_values.values():
            if str(value.uuid).lower() == uuid:
                return str(gtype)
    return None


def get_cluster(session: Session, ref: str | int) -> tuple[GalaxyCluster, Galaxy]:
    ident = as_id(ref)
    if ident is None and not is_uuid(str(ref)):
        raise InvalidInput("a galaxy cluster is named by its id or uuid", field="cluster")
    cond = (
        GalaxyCluster.id == ident if ident is not None else GalaxyCluster.uuid == str(ref).lower()
    )
    row = session.execute(sa.select(GalaxyCluster).where(cond)).scalar_one_or_none()
    if row is None and ident is None:
        gtype = _galaxy_of_cluster_uuid(str(ref).lower())
        if gtype is not None:
            load_clusters(session, get_galaxy(session, gtype))
            row = session.execute(sa.select(GalaxyCluster).where(cond)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"galaxy cluster {ref} not found", field="cluster")
    galaxy = session.get(Galaxy, row.galaxy_id)
    assert galaxy is not None
    return row, galaxy


def clusters_for_tags(
    session: Session, names: list[str]
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(cluster, galaxy) of the clusters behind galaxy tags; other tags are left out.

    A galaxy not opened before has its clusters stored now: in the caller's session when it
    writes (it commits with the request), else in a short write session of its own."""
    by_type: dict[str, list[str]] = {}
    for name in names:
        m = _TAG.match(name)
        if m:
            by_type.setdefault(m.group(1), []).append(name)
    if not by_type:
        return []
    wanted = session.execute(sa.select(Galaxy).where(Galaxy.type.in_(list(by_type)))).scalars()
    if all(g.clusters_loaded for g in wanted) or _writes(session):
        return _clusters_for(session, by_type)
    with get_database().writing() as own:
        return _clusters_for(own, by_type)


def _writes(session: Session) -> bool:
    return bool(session.get_bind().get_execution_options().get("shieldwall_write"))


def _clusters_for(
    session: Session, by_type: dict[str, list[str]]
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    out = []
    for gtype, tags in sorted(by_type.items()):
        galaxy = session.execute(sa.select(Galaxy).where(Galaxy.type == gtype)).scalar_one_or_none()
        if galaxy is None:
            continue
        load_clusters(session, galaxy)
        for c in session.execute(
            sa.select(GalaxyCluster)
            .where(GalaxyCluster.galaxy_id == galaxy.id, GalaxyCluster.tag_name.in_(tags))
            .order_by(GalaxyCluster.value)
        ).scalars():
            out.append((cluster_out(c, galaxy), galaxy_out(galaxy)))
    return out


def attach_cluster(
    session: Session,
    ctx: Ctx,
    target: str,
    target_ref: str | int,
    cluster_ref: str | int,
    *,
    local: bool,
) -> tuple[GalaxyCluster, list[str]]:
    """Attach a cluster (its tag) to an event or an attribute, through the tagging services."""
    cluster, _ = get_cluster(session, cluster_ref)
    require(ctx, Permission.TAG_ATTACH)
    if session.execute(sa.select(Tag.id).where(Tag.name == cluster.tag_name)).first() is None:
        # Cluster tags come from the galaxy data: taggers may use them without tag-edit rights.
        tag = Tag(name=cluster.tag_name, colour=colour_for(cluster.tag_name))
        session.add(tag)
        session.flush()
        record(session, ctx.actor, "create", "Tag", model_id=tag.id, title=tag.name)
    ref = [TagRef(name=cluster.tag_name, local=local)]
    if target == "event":
        added = ev.tag_event(session, ctx, target_ref, ref)
    elif target == "attribute":
        added = ev.tag_attribute(session, ctx, target_ref, ref)
    else:
        raise InvalidInput("a cluster is attached to an event or an attribute", field="type")
    return cluster, added


def cluster_out(c: GalaxyCluster, g: Galaxy) -> dict[str, Any]:
    data = cluster_library().get(g.type)
    return {
        "id": c.id,
        "uuid": c.uuid,
        "galaxy_id": g.id,
        "type": g.type,
        "value": c.value,
        "tag_name": c.tag_name,
        "description": c.description,
        "source": (data.source if data is not None else "") or "",
        "authors": sorted(data.authors or []) if data is not None else [],
        "version": g.version,
        "meta": c.meta or {},
    }


def galaxy_out(g: Galaxy) -> dict[str, Any]:
    return {
        "id": g.id,
        "uuid": g.uuid,
        "type": g.type,
        "name": g.name,
        "namespace": g.namespace,
        "description": g.description,
        "version": g.version,
        "icon": g.icon,
    }


def update(session: Session, ctx: Ctx) -> int:
    require(ctx, Permission.SITE_ADMIN)
    added = sync(session)
    record(session, ctx.actor, "update", "Galaxy", title="galaxies", change={"added": added})
    return added


MITRE_ATTACK = "mitre-attack-pattern"


def matrix_of(
    session: Session, ref: str | int | None
) -> tuple[Galaxy, dict[str, dict[str, list[GalaxyCluster]]], list[str]]:
    """matrix() of a galaxy (by id, uuid or type; MITRE ATT&CK patterns by default). A
    galaxy not opened before has its clusters stored in a short write session of its own
    when the caller's session only reads."""
    galaxy = get_galaxy(session, ref if ref not in (None, "") else MITRE_ATTACK)
    if galaxy.clusters_loaded or _writes(session):
        return (galaxy, *matrix(session, galaxy))
    with get_database().writing() as own:
        mine = own.get_one(Galaxy, galaxy.id)
        return (mine, *matrix(own, mine))


def matrix(
    session: Session, galaxy: Galaxy
) -> tuple[dict[str, dict[str, list[GalaxyCluster]]], list[str]]:
    """A galaxy as MISP's matrix: {kill chain: {phase: [clusters]}} from each cluster's
    `kill_chain` entries ("mitre-attack:initial-access"), and the tags of the clusters
    placed. A galaxy without a kill chain order is no matrix."""
    data = galaxy_library().get(galaxy.type)
    if data is None or not getattr(data, "kill_chain_order", None):
        raise InvalidInput(f"galaxy {galaxy.type} cannot be shown as a matrix", field="galaxy_id")
    load_clusters(session, galaxy)
    tabs: dict[str, dict[str, list[GalaxyCluster]]] = {}
    tags: list[str] = []
    for c in session.execute(
        sa.select(GalaxyCluster)
        .where(GalaxyCluster.galaxy_id == galaxy.id)
        .order_by(GalaxyCluster.value)
    ).scalars():
        placed = False
        chains = (c.meta or {}).get("kill_chain") or []
        for entry in chains if isinstance(chains, list) else [chains]:
            chain, _, phase = str(entry).partition(":")
            if phase:
                tabs.setdefault(chain, {}).setdefault(phase, []).append(c)
                placed = True
        if placed:
            tags.append(c.tag_name)
    return tabs, tags
