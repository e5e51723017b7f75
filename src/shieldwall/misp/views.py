"""Whole MISP event views: what the event JSON carries beyond the event's own data."""

from __future__ import annotations

from typing import Any

from shieldwall.api.deps import CurrentCtx, ReadDB
from shieldwall.intel.proposals import proposals_for_event
from shieldwall.intel.reports import reports_for_event
from shieldwall.misp.correlation import add_related
from shieldwall.misp.knowledge import add_galaxies
from shieldwall.misp.proposals import proposal_shape
from shieldwall.misp.reports import report_shape


def complete(
    db: ReadDB,
    ctx: CurrentCtx,
    detail: dict[str, Any],
    shaped: dict[str, Any],
    *,
    related: bool = True,
    granular: bool = False,
) -> dict[str, Any]:
    """An event view as MISP gives it: Galaxy blocks for galaxy tags, open proposals (new
    attributes on the event, changes and deletions on their attribute), reports, and the
    related events (with `granular`, each attribute's correlations too)."""
    if "Attribute" not in shaped:  # metadata only
        return shaped
    if related or granular:
        add_related(db, ctx, shaped, granular=granular)
    add_galaxies(db, detail, shaped)
    by_attribute: dict[int, list[dict[str, Any]]] = {}
    loose = []
    for p in proposals_for_event(db, ctx, detail["id"]):
        if p.get("old_id"):
            by_attribute.setdefault(int(p["old_id"]), []).append(proposal_shape(p))
        else:
            loose.append(proposal_shape(p))
    shaped["ShadowAttribute"] = loose
    for a in shaped["Attribute"] + [a for o in shaped.get("Object", []) for a in o["Attribute"]]:
        a["ShadowAttribute"] = by_attribute.get(int(a["id"]), [])
    shaped["EventReport"] = [report_shape(r) for r in reports_for_event(db, ctx, detail["id"])]
    return shaped
