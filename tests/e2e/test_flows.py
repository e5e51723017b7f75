"""The analysts' and coordinators' day in a real browser: sign in; create an event with
attributes; see its correlation; publish it; triage an alert into a case; share the case;
request assistance as one organisation and approve it as the coordinator; and a user of
another organisation sees none of it."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from shieldwall.context import system_ctx
from shieldwall.intel import events as event_service
from shieldwall.intel.schemas import EventIn
from shieldwall.response.alerts import create_alert
from shieldwall.response.schemas import AlertIn


def flashed(page, text: str | re.Pattern[str]) -> None:  # type: ignore[no-untyped-def]
    """The page's message after a form: what the server said it did."""
    expect(page.locator(".flash")).to_contain_text(text)


def _community_event(instance, org_id: int) -> int:  # type: ignore[no-untyped-def]
    with instance.db.writing() as session:
        ctx = system_ctx(org_id)
        ev = event_service.create_event(
            session,
            ctx,
            EventIn.model_validate(
                {
                    "info": "Partner sighting of the beacon",
                    "distribution": 1,
                    "attributes": [{"type": "ip-dst", "value": "203.0.113.99"}],
                }
            ),
        )
        event_service.publish_event(session, ctx, ev.id)
        return ev.id


def test_the_whole_day_in_a_browser(instance, make_user, signed_in) -> None:  # type: ignore[no-untyped-def]
    analyst = make_user("CERT-A", "publisher", email="analyst@cert-a.test")
    lead = make_user("CERT-A", "org_admin", email="lead@cert-a.test")
    partner = make_user("CERT-B", "user", email="analyst@cert-b.test")
    outsider = make_user("CERT-C", "org_admin", email="lead@cert-c.test")
    coordinator = make_user("ALLIANCE", "coordinator", email="duty@alliance.test")
    partner_event = _community_event(instance, partner.org_id)
    from shieldwall.auth.models import User
    from shieldwall.auth.service import principal_for
    from shieldwall.context import Ctx

    with instance.db.writing() as session:
        user = session.get(User, analyst.user_id)
        ctx = Ctx(principal_for(user), system_ctx(analyst.org_id).actor)
        create_alert(
            session,
            ctx,
            AlertIn.model_validate(
                {
                    "type": "siem",
                    "source": "splunk",
                    "source_ref": "notable-1",
                    "title": "Beaconing to 203.0.113.99 from the finance LAN",
                    "severity": "high",
                    "observables": [{"type": "ip-dst", "value": "203.0.113.99", "ioc": True}],
                }
            ),
        )

    # The analyst signs in and lands on the situational picture.
    a = signed_in(analyst.email)
    page = a.page
    expect(page.get_by_role("heading", name=re.compile("Alliance: the last 7d"))).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("open alerts"))).to_be_visible()
    a.shot("picture")

    # A new event with attributes, kept in the organisation.
    a.go("/ui/events/new")
    page.get_by_label("Info (what the event is about)").fill("Beacon infrastructure seen at CERT-A")
    page.get_by_label("Distribution", exact=True).select_option("0")
    page.get_by_label("Attributes", exact=True).fill(
        "ip-dst, 203.0.113.99, C2\ndomain, update-check.bad.example\nhxxp://cdn-update.badsite.com/x.exe"
    )
    page.get_by_role("button", name="Create event").click()
    flashed(page, "event created")
    expect(page.locator("td.value", has_text="203.0.113.99")).to_be_visible()
    expect(page.locator("td.value", has_text="update-check.bad.example")).to_be_visible()
    # A bare value is typed as freetext import types it.
    expect(page.locator("td.value", has_text="http://cdn-update.badsite.com/x.exe")).to_be_visible()
    event_url = page.url
    a.shot("event")
    a.go("/ui/events")
    expect(page.get_by_role("link", name="Beacon infrastructure seen at CERT-A")).to_be_visible()
    a.shot("events")
    page.goto(event_url)

    # Its correlation with the partner's event, as a list and a graph.
    page.get_by_role("link", name="Correlations").click()
    expect(page.get_by_role("link", name=str(partner_event)).first).to_be_visible()
    expect(page.locator("section.graph svg")).to_be_visible()
    a.shot("correlations")

    # Publish (the page asks first).
    page.goto(event_url)
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_text("published", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Unpublish")).to_be_visible()

    # Triage: the alert into a new case.
    a.go("/ui/alerts")
    a.shot("alerts")
    page.get_by_label(re.compile("Choose alert")).first.check()
    page.get_by_label("With the chosen alerts").select_option("merge")
    page.get_by_role("button", name="Apply").click()
    flashed(page, re.compile("alerts merged into case"))
    expect(page.get_by_role("heading", name=re.compile("Case #1 of CERT-A"))).to_be_visible()
    case_url = page.url
    expect(page.locator("td.value", has_text="203.0.113.99")).to_be_visible()

    # A task with a log, then share the case with CERT-B to contribute.
    page.get_by_label("New task").fill("Scope the beaconing hosts")
    page.get_by_role("button", name="Add task").click()
    flashed(page, "task added")
    page.get_by_role("textbox", name="Log", exact=True).fill("Two hosts in VLAN 12.")
    page.get_by_role("button", name="Add log").click()
    expect(page.get_by_text("Two hosts in VLAN 12.")).to_be_visible()
    page.get_by_label("Organisation", exact=True).select_option("CERT-B")
    page.get_by_label("Profile").select_option("contribute")
    page.get_by_role("button", name="Share", exact=True).click()
    flashed(page, "shared with CERT-B (contribute)")
    a.shot("case")

    # The partner sees the shared case, and a notification about it.
    b = signed_in(partner.email)
    b.go("/ui/cases")
    expect(b.page.get_by_role("link", name=re.compile("Beaconing to 203.0.113.99"))).to_be_visible()
    b.go("/ui/notifications")
    expect(b.page.get_by_text(re.compile("shared with CERT-B"))).to_be_visible()

    # CERT-A's lead asks for help; the coordinator approves.
    lead_s = signed_in(lead.email)
    lead_s.go(case_url.replace(a.base, ""))
    lead_s.page.get_by_role("link", name="Ask the alliance for help").click()
    lead_s.page.get_by_label("What for").fill("Forensics for two hosts")
    lead_s.page.get_by_label("What is needed").fill("Memory forensics and containment advice")
    lead_s.page.get_by_label("Skills (comma separated)").fill("forensics")
    lead_s.page.get_by_label("Point of contact").fill("Duty officer CERT-A")
    lead_s.page.get_by_role("button", name="Request assistance").click()
    flashed(lead_s.page, "assistance requested")
    request_url = lead_s.page.url

    c = signed_in(coordinator.email)
    c.go("/ui/assistance")
    c.shot("assistance")
    c.page.get_by_role("link", name="Forensics for two hosts").click()
    c.page.get_by_label("Reason (needed to decline)").fill("Within the alliance's mandate")
    c.page.get_by_role("button", name="Approve").click()
    expect(c.page.get_by_text("approved", exact=True).first).to_be_visible()
    c.shot("assistance-request")
    # The coordinator reads the request, not the case.
    c.go(case_url.replace(a.base, ""))
    expect(c.page.get_by_role("heading", name="Not found")).to_be_visible()
    lead_s.go(request_url.replace(a.base, ""))
    expect(lead_s.page.get_by_text(re.compile("approved by duty@alliance.test"))).to_be_visible()

    # The dark theme, switched from the keyboard-reachable toggle, stays across pages.
    a.go("/ui/")
    a.page.get_by_role("button", name="Switch light or dark theme").click()
    expect(a.page.locator("html")).to_have_attribute("data-theme", re.compile("dark|light"))
    chosen = a.page.locator("html").get_attribute("data-theme")
    a.go("/ui/cases")
    expect(a.page.locator("html")).to_have_attribute("data-theme", chosen or "")
    if chosen != "dark":
        a.page.get_by_role("button", name="Switch light or dark theme").click()
    a.go("/ui/")
    a.shot("picture-dark")

    # The user of another organisation sees none of it.
    o = signed_in(outsider.email)
    o.go("/ui/cases")
    expect(o.page.get_by_text("No cases match.")).to_be_visible()
    o.go("/ui/alerts")
    expect(o.page.get_by_text("No alerts match.")).to_be_visible()
    o.go("/ui/assistance")
    expect(o.page.get_by_text("No requests you may see.")).to_be_visible()
    o.go(case_url.replace(a.base, ""))
    expect(o.page.get_by_role("heading", name="Not found")).to_be_visible()
    o.go(event_url.replace(a.base, ""))
    expect(o.page.get_by_role("heading", name="Not found")).to_be_visible()
    o.go("/ui/events?q=203.0.113.99")
    expect(o.page.get_by_role("link", name="Beacon infrastructure seen at CERT-A")).to_have_count(0)
    o.go("/ui/")
    kpis = o.page.locator(".kpis").inner_text()
    assert re.search(r"\b0\s+open cases", kpis) and re.search(r"\b0\s+open alerts", kpis), kpis
    assert re.search(r"\b0\s+open assistance requests", kpis), kpis
    body = o.page.locator("main").inner_text()
    assert "Forensics for two hosts" not in body and "Beaconing" not in body
