"""The situational picture: the alliance's (or one organisation's) intel, sightings, hunt
matches, alerts, cases, SLA breaches, assistance and feeds over a chosen period, each figure
linking to the list behind it, all of it counted from what the viewer may read."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from shieldwall.auth.models import Organisation
from shieldwall.db.engine import get_database
from shieldwall.intel import statistics as intel_stats
from shieldwall.response import statistics as response_stats
from shieldwall.web import charts
from shieldwall.web.core import PageViewer, Period, render, web_router

router = web_router()

ATTACK = "misp-galaxy:mitre-attack-pattern="


def picture(session: Any, viewer: Any, period: Period, org_id: int | None) -> dict[str, Any]:
    ctx = viewer.ctx
    hourly = period.days <= 1
    labels = charts.buckets(period.since, period.until, hourly)
    act = intel_stats.activity(session, ctx, period.since, hourly, org_id)
    matches = response_stats.hunt_matches(session, ctx, period.since, hourly, org_id)
    since_date = period.since.date().isoformat()

    def intel_link(series: str, label: str) -> str:
        day = label[:10]
        if series == "sightings":
            return f"/ui/attributes?{urlencode({'sighted_from': day})}"
        return f"/ui/events?{urlencode({'from': day, 'to': day})}"

    def alert_link(series: str, label: str) -> str:
        return "/ui/alerts?" + urlencode({"type": "hunt"})

    feeds = []
    if viewer.is_site_admin:
        from shieldwall.exchange.feeds import list_feeds

        feeds = [f for f in list_feeds(session, ctx) if f.enabled]
    techniques = [
        (name.removeprefix(ATTACK).strip('"'), n)
        for name, n in intel_stats.top_tags(session, ctx, period.since, 10, ATTACK, org_id)
    ]
    return {
        "intel_chart": charts.timeseries(
            labels,
            [
                ("events", act["events"], "bar2"),
                ("indicators", act["attributes"], "bar"),
            ],
            intel_link,
            "New events and indicators",
        ),
        "sightings_chart": charts.timeseries(
            labels,
            [("sightings", act["sightings"], "bar3"), ("hunt matches", matches, "bar2")],
            lambda s, lbl: intel_link("sightings", lbl) if s == "sightings" else alert_link(s, lbl),
            "Sightings and hunt matches",
        ),
        "totals": {
            "events": sum(act["events"].values()),
            "indicators": sum(act["attributes"].values()),
            "sightings": sum(act["sightings"].values()),
            "matches": sum(matches.values()),
        },
        "top_tags": intel_stats.top_tags(session, ctx, period.since, 10, None, org_id),
        "techniques": techniques,
        "case_techniques": response_stats.top_case_techniques(
            session, ctx, period.since, 10, org_id
        ),
        "alerts": response_stats.open_alerts(session, ctx, org_id),
        "cases": response_stats.open_cases(session, ctx, None, org_id),
        "breaches": response_stats.breaches(session, ctx, None, org_id),
        "assistance": response_stats.assistance(session, ctx),
        "feeds": feeds,
        "since": since_date,
    }


@router.get("/", response_class=HTMLResponse)
def home(
    request: Request, viewer: PageViewer, period: str | None = None, org: int | None = None
) -> Response:
    p = Period.of(period)
    with get_database().reading() as session:
        orgs = list(
            session.execute(
                sa.select(Organisation.id, Organisation.name).order_by(Organisation.name)
            ).all()
        )
        data = picture(session, viewer, p, org)
        return render(
            request,
            "home.html",
            period=p,
            org=org,
            orgs=orgs,
            org_name=next((n for i, n in orgs if i == org), None),
            **data,
        )


def root_redirect() -> Response:
    return RedirectResponse("/ui/", status_code=307)
