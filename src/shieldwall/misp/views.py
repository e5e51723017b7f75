"""Whole MISP event views: what the event JSON carries beyond the event's own data."""

from __future__ import annotations

from typing import Any

from shieldwall.api.deps import CurrentCtx, ReadDB
from shieldwall.correlation.engine import Source
from shieldwall.intel.attachments import attach_data
from shieldwall.intel.proposals import proposals_for_event
from shieldwall.intel.reports import reports_for_event
from shieldwall.intel.sharing_groups import readable_sharing_groups
from shieldwall.misp.admin import sharing_group_shape
from shieldwall.misp.correlation import add_related
from shieldwall.misp.knowledge import add_galaxies, event_attributes
from shieldwall.misp.proposals import proposal_shape
from shieldwall.misp.reports import report_shape
from shieldwall.server_settings import effective_settings


def add_sharing_groups(db: ReadDB, ctx: CurrentCtx, shaped: dict[str, Any]) -> None:
    """MISP's `SharingGroup` block on the event, and on each attribute and object shared
    with a group, for the groups the caller may see (sgReferenceOnly leaves them out)."""
    items = [shaped]
    for o in shaped.get("Object", []):
        items.append(o)
        items.extend(o.get("Attribute", []))
    items.extend(shaped.get("Attribute", []))
    ids = {
        int(i["sharing_group_id"]) for i in items if i.get("sharing_group_id") not in (None, "0")
    }
    groups = readable_sharing_groups(db, ctx, ids)
    if not groups:
        return
    base_url = effective_settings().effective_base_url
    blocks = {}
    for sg_id, sg in groups.items():
        full = sharing_group_shape(sg, base_url)
        blocks[sg_id] = {**full.pop("SharingGroup"), **full}
    for i in items:
        block = blocks.get(int(i.get("sharing_group_id") or 0))
        if block is not None:
            i["SharingGroup"] = block


def event_files(db: ReadDB, shaped: dict[str, Any]) -> None:
    """`data` on the event's attachment and malware-sample attributes (MISP's
    includeAttachments)."""
    attach_data(db, event_attributes(shaped))


def complete(
    db: ReadDB,
    ctx: CurrentCtx,
    detail: dict[str, Any],
    shaped: dict[str, Any],
    *,
    related: bool = True,
    granular: bool = False,
    sg_reference_only: bool = False,
    attachments: bool = False,
    proposals: bool = True,
    sources: list[Source] | None = None,
) -> dict[str, Any]:
    """An event view as MISP gives it: Galaxy blocks for galaxy tags, open proposals (new
    attributes on the event, changes and deletions on their attribute), reports, the
    related events (with `granular`, each attribute's correlations too), the sharing groups
    (unless `sg_reference_only`) and, with `attachments`, the files. Without `proposals`
    the event's ShadowAttribute list stays empty and its attributes get none (exports that
    do not carry them skip the query). `sources`: the event's correlating attributes when
    the caller has them (a write's answer)."""
    if not sg_reference_only:
        add_sharing_groups(db, ctx, shaped)
    if "Attribute" not in shaped:  # metadata only
        return shaped
    if attachments:
        event_files(db, shaped)
    if related or granular:
        add_related(db, ctx, shaped, granular=granular, sources=sources)
    add_galaxies(db, detail, shaped)
    if proposals:
        by_attribute: dict[int, list[dict[str, Any]]] = {}
        loose = []
        for p in proposals_for_event(db, ctx, detail["id"]):
            if p.get("old_id"):
                by_attribute.setdefault(int(p["old_id"]), []).append(proposal_shape(p))
            else:
                loose.append(proposal_shape(p))
        shaped["ShadowAttribute"] = loose
        for a in shaped["Attribute"] + [
            a for o in shaped.get("Object", []) for a in o["Attribute"]
        ]:
            a["ShadowAttribute"] = by_attribute.get(int(a["id"]), [])
    shaped["EventReport"] = [report_shape(r) for r in reports_for_event(db, ctx, detail["id"])]
    return shaped
