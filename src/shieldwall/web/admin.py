"""Detection and administration pages: sensors, exports and hunt results; organisations,
users and roles, sharing groups, feeds, taxonomies and warninglists, TAXII collections,
case templates, SLA policies, constituency, webhooks, the audit log with its verification,
and runtime settings. Each page calls the services, which check the permissions."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from shieldwall import server_settings
from shieldwall.audit.service import list_entries, verify
from shieldwall.auth import service as auth
from shieldwall.db.engine import get_database
from shieldwall.detection import sensors as sensor_svc
from shieldwall.detection.exports import FORMATS
from shieldwall.exchange import feeds as feed_svc
from shieldwall.intel import sharing_groups as sg_svc
from shieldwall.intel.errors import Forbidden, InvalidInput
from shieldwall.intel.schemas import SharingGroupIn
from shieldwall.knowledge import taxonomies, warninglists
from shieldwall.response import alerts as alert_svc
from shieldwall.response import constituency as const_svc
from shieldwall.response import notify as notify_svc
from shieldwall.response import sla as sla_svc
from shieldwall.response import templates as template_svc
from shieldwall.response.schemas import (
    ConstituencyIn,
    SlaPolicyIn,
    TemplateIn,
    WebhookIn,
)
from shieldwall.taxii import collections as taxii_svc
from shieldwall.web.core import (
    Form,
    PageViewer,
    flag,
    lines,
    many,
    opt,
    redirect,
    render,
    text,
    web_router,
)
from shieldwall.web.intel import DISTRIBUTIONS

router = web_router()


def shown_once(request: Request, title: str, what: str, secret: str, back: str) -> Response:
    """A page that shows a new secret this once (it never travels in a cookie or a URL)."""
    return render(request, "secret.html", title=title, what=what, secret=secret, back=back)


# ---------------------------------------------------------------- detection


@router.get("/detection", response_class=HTMLResponse)
def detection(request: Request, viewer: PageViewer) -> Response:
    with get_database().reading() as session:
        sensors = []
        if viewer.can("admin:organisation:manage"):
            sensors = sensor_svc.list_sensors(session, viewer.ctx)
        hunts = alert_svc.list_alerts(
            session, viewer.ctx, alert_svc.AlertFilter(type="hunt", limit=50, newest_first=True)
        )
        return render(
            request,
            "detection.html",
            sensors=sensors,
            formats=list(FORMATS.values()),
            hunts=hunts,
        )


@router.post("/detection/sensors")
def create_sensor(request: Request, viewer: PageViewer, form: Form) -> Response:
    with get_database().writing() as session:
        sensor = sensor_svc.create_sensor(
            session,
            viewer.ctx,
            name=text(form, "name"),
            org_ref=viewer.org_id,
            networks=lines(form, "networks"),
        )
        _, raw = sensor_svc.issue_key(session, viewer.ctx, sensor)
        name = sensor.name
    return shown_once(request, f"Sensor {name} created", "its API key", raw, "/ui/detection")


# ---------------------------------------------------------------- the admin index


@router.get("/admin", response_class=HTMLResponse)
def admin_index(request: Request, viewer: PageViewer) -> Response:
    return render(request, "admin.html")


@router.get("/admin/organisations", response_class=HTMLResponse)
def organisations(request: Request, viewer: PageViewer) -> Response:
    with get_database().reading() as session:
        orgs = auth.list_orgs(session, limit=1000)
        counts = auth.user_counts(session, [o.id for o in orgs])
        return render(request, "admin_orgs.html", orgs=orgs, counts=counts)


@router.post("/admin/organisations")
def create_org(viewer: PageViewer, form: Form) -> Response:
    data = {
        "name": text(form, "name"),
        "description": text(form, "description"),
        "nationality": text(form, "nationality"),
        "sector": text(form, "sector"),
        "local": not flag(form, "remote"),
    }
    with get_database().writing() as session:
        auth.create_org(session, viewer.ctx, data)
    return redirect("/ui/admin/organisations", f"organisation {data['name']} created")


@router.get("/admin/users", response_class=HTMLResponse)
def users(request: Request, viewer: PageViewer) -> Response:
    with get_database().reading() as session:
        items = auth.list_users(session, viewer.ctx, limit=1000)
        roles = auth.list_roles(session)
        orgs = auth.list_orgs(session, limit=1000) if viewer.is_site_admin else []
        return render(request, "admin_users.html", users=items, roles=roles, orgs=orgs)


@router.post("/admin/users")
def create_user(request: Request, viewer: PageViewer, form: Form) -> Response:
    org = text(form, "org") or str(viewer.org_id)
    with get_database().writing() as session:
        password = auth.generate_password()
        user = auth.create_user(
            session,
            viewer.ctx,
            email=text(form, "email"),
            org_ref=org,
            role_ref=text(form, "role") or None,
            password=password,
        )
        email = user.email
    return shown_once(request, f"User {email} created", "the password", password, "/ui/admin/users")


@router.post("/admin/users/{user_id}")
def update_user(user_id: int, viewer: PageViewer, form: Form) -> Response:
    change: dict[str, Any] = {}
    if opt(form, "role"):
        change["role"] = text(form, "role")
    if "disabled" in form:
        change["disabled"] = flag(form, "disabled")
    with get_database().writing() as session:
        user = auth.get_user(session, viewer.ctx, user_id)
        auth.update_user(session, viewer.ctx, user, change)
    return redirect("/ui/admin/users", "user saved")


@router.get("/admin/roles", response_class=HTMLResponse)
def roles(request: Request, viewer: PageViewer) -> Response:
    from shieldwall.auth.permissions import Permission

    with get_database().reading() as session:
        return render(
            request,
            "admin_roles.html",
            roles=auth.list_roles(session),
            permissions=list(Permission),
        )


@router.post("/admin/roles/{role_id}")
def update_role(role_id: int, viewer: PageViewer, form: Form) -> Response:
    """A role's permissions, as the boxes say; or make it the default role."""
    with get_database().writing() as session:
        auth.update_role(
            session,
            viewer.ctx,
            role_id,
            permissions=None if flag(form, "make_default") else many(form, "permission"),
            default_role=True if flag(form, "make_default") else None,
        )
    return redirect("/ui/admin/roles", "role saved")


@router.post("/admin/sharing-groups/{ref}/members")
def sharing_group_member(ref: str, viewer: PageViewer, form: Form) -> Response:
    org = text(form, "org")
    with get_database().writing() as session:
        if flag(form, "remove"):
            sg_svc.remove_member(session, viewer.ctx, ref, org)
        else:
            sg_svc.add_member(session, viewer.ctx, ref, org, extend=flag(form, "extend"))
    return redirect(
        "/ui/admin/sharing-groups", f"{org} {'removed' if flag(form, 'remove') else 'added'}"
    )


@router.get("/admin/sharing-groups", response_class=HTMLResponse)
def sharing_groups(request: Request, viewer: PageViewer) -> Response:
    with get_database().reading() as session:
        groups = sg_svc.list_sharing_groups(session, viewer.ctx, limit=1000)
        return render(request, "admin_sharing_groups.html", groups=groups)


@router.post("/admin/sharing-groups")
def create_sharing_group(viewer: PageViewer, form: Form) -> Response:
    with get_database().writing() as session:
        group = sg_svc.create_sharing_group(
            session,
            viewer.ctx,
            SharingGroupIn(name=text(form, "name"), releasability=text(form, "releasability")),
        )
        for org in lines(form, "members"):
            sg_svc.add_member(session, viewer.ctx, group.id, org)
    return redirect("/ui/admin/sharing-groups", "sharing group created")


@router.get("/admin/feeds", response_class=HTMLResponse)
def feeds(request: Request, viewer: PageViewer) -> Response:
    with get_database().reading() as session:
        return render(request, "admin_feeds.html", feeds=feed_svc.list_feeds(session, viewer.ctx))


@router.post("/admin/feeds")
def create_feed(viewer: PageViewer, form: Form) -> Response:
    data = feed_svc.FeedIn.model_validate(
        {
            "name": text(form, "name"),
            "url": text(form, "url"),
            "source_format": text(form, "source_format") or "misp",
            "provider": text(form, "provider"),
            "enabled": flag(form, "enabled"),
        }
    )
    with get_database().writing() as session:
        feed_svc.create_feed(session, viewer.ctx, data)
    return redirect("/ui/admin/feeds", f"feed {data.name} added")


@router.post("/admin/feeds/{feed_id}/fetch")
def fetch_feed(feed_id: int, viewer: PageViewer, form: Form) -> Response:
    if not viewer.is_site_admin:
        raise Forbidden("fetching feeds needs admin:site:manage")
    r = feed_svc.fetch_feed(get_database(), viewer.ctx, feed_id)
    summary = f"{r.name}: {r.created} events created, {r.updated} updated, {r.unchanged} unchanged"
    if r.errors:
        return redirect(
            "/ui/admin/feeds", f"{summary}; {len(r.errors)} errors: {r.errors[0][:300]}", "error"
        )
    return redirect("/ui/admin/feeds", summary)


@router.post("/admin/feeds/{feed_id}/enable")
def enable_feed(feed_id: int, viewer: PageViewer, form: Form) -> Response:
    with get_database().writing() as session:
        feed_svc.set_enabled(session, viewer.ctx, feed_id, flag(form, "enabled"))
    return redirect("/ui/admin/feeds", "feed saved")


@router.get("/admin/knowledge", response_class=HTMLResponse)
def knowledge(request: Request, viewer: PageViewer, q: str | None = None) -> Response:
    with get_database().reading() as session:
        taxa = [t for t, _ in taxonomies.list_taxonomies(session)]
        lists = [w for w, _ in warninglists.list_warninglists(session)]
        if q:
            taxa = [t for t in taxa if q.lower() in t.namespace.lower()]
            lists = [w for w in lists if q.lower() in w.name.lower()]
        return render(
            request, "admin_knowledge.html", taxonomies=taxa, warninglists=lists, q=q or ""
        )


@router.post("/admin/taxonomies/{ref}")
def toggle_taxonomy(ref: str, viewer: PageViewer, form: Form) -> Response:
    with get_database().writing() as session:
        taxonomies.set_enabled(session, viewer.ctx, ref, flag(form, "enabled"))
    return redirect("/ui/admin/knowledge", "taxonomy saved")


@router.post("/admin/warninglists/{ref}")
def toggle_warninglist(ref: str, viewer: PageViewer, form: Form) -> Response:
    with get_database().writing() as session:
        warninglists.set_enabled(session, viewer.ctx, [ref], flag(form, "enabled"))
    return redirect("/ui/admin/knowledge", "warninglist saved")


@router.get("/admin/taxii", response_class=HTMLResponse)
def taxii(request: Request, viewer: PageViewer) -> Response:
    with get_database().reading() as session:
        items = [
            taxii_svc.collection_out(a) for a in taxii_svc.list_collections(session, viewer.ctx)
        ]
        return render(
            request, "admin_taxii.html", collections=items, distributions=DISTRIBUTIONS[:5]
        )


@router.post("/admin/taxii")
def create_collection(viewer: PageViewer, form: Form) -> Response:
    data = taxii_svc.CollectionIn.model_validate(
        {
            "title": text(form, "title"),
            "description": text(form, "description"),
            "tags": lines(form, "tags"),
            "published_only": flag(form, "published_only"),
            "readers": lines(form, "readers"),
            "writers": lines(form, "writers"),
            "distribution": text(form, "distribution", "1") or "1",
            "sharing_group": opt(form, "sharing_group"),
        }
    )
    with get_database().writing() as session:
        taxii_svc.create_collection(session, viewer.ctx, data)
    return redirect("/ui/admin/taxii", "collection created")


@router.get("/admin/audit", response_class=HTMLResponse)
def audit(
    request: Request,
    viewer: PageViewer,
    model: str | None = None,
    action: str | None = None,
    user_id: int | None = None,
    after: int = 0,
    check: bool = False,
) -> Response:
    with get_database().reading() as session:
        entries = list_entries(
            session,
            viewer.ctx.principal,
            after=after,
            limit=100,
            model=model or None,
            action=action or None,
            user_id=user_id,
        )
        result = None
        if check:
            if not viewer.is_site_admin:
                raise Forbidden("verifying the audit chain needs admin:site:manage")
            result = verify(session)
        params = {
            k: v for k, v in request.query_params.items() if v and k not in ("after", "check")
        }
        return render(
            request,
            "admin_audit.html",
            entries=entries,
            result=result,
            filters=params,
            next=entries[-1].id if len(entries) == 100 else None,
        )


@router.get("/admin/settings", response_class=HTMLResponse)
def settings(request: Request, viewer: PageViewer) -> Response:
    if not viewer.is_site_admin:
        raise Forbidden("settings need admin:site:manage")
    with get_database().reading() as session:
        return render(request, "admin_settings.html", settings=server_settings.describe(session))


@router.post("/admin/settings/{name}")
def set_setting(name: str, viewer: PageViewer, form: Form) -> Response:
    with get_database().writing() as session:
        if flag(form, "reset"):
            server_settings.reset_value(session, viewer.ctx, name)
        else:
            server_settings.set_value(session, viewer.ctx, name, text(form, "value"))
    return redirect("/ui/admin/settings", f"{name} saved")


# ---------------------------------------------------------------- response administration


DELIVERIES_SHOWN = 20


@router.get("/admin/response", response_class=HTMLResponse)
def response_admin(request: Request, viewer: PageViewer) -> Response:
    with get_database().reading() as session:
        hooks = (
            notify_svc.list_webhooks(session, viewer.ctx)
            if viewer.can("response:webhook:manage")
            else []
        )
        # Each webhook's latest deliveries: state, attempts, the receiver's last answer.
        sent = {
            h.id: [
                notify_svc.delivery_out(d)
                for d in notify_svc.deliveries(session, viewer.ctx, h.id, DELIVERIES_SHOWN)
            ]
            for h in hooks
        }
        return render(
            request,
            "admin_response.html",
            templates=template_svc.list_templates(session, viewer.ctx),
            policies=[sla_svc.policy_out(p) for p in sla_svc.list_policies(session, viewer.ctx)],
            entries=const_svc.list_entries(session, viewer.ctx),
            webhooks=hooks,
            deliveries=sent,
            topics=notify_svc.TOPICS,
        )


@router.post("/admin/response/templates")
def create_template(viewer: PageViewer, form: Form) -> Response:
    data = TemplateIn.model_validate(
        {
            "name": text(form, "name"),
            "title_prefix": text(form, "title_prefix"),
            "severity": text(form, "severity") or "medium",
            "tags": lines(form, "tags"),
            "tasks": [{"title": t.strip()} for t in text(form, "tasks").splitlines() if t.strip()],
        }
    )
    with get_database().writing() as session:
        template_svc.create_template(session, viewer.ctx, data)
    return redirect("/ui/admin/response", f"template {data.name} created")


@router.post("/admin/response/sla")
def set_sla(viewer: PageViewer, form: Form) -> Response:
    def minutes(name: str) -> int | None:
        raw = text(form, name)
        if not raw:
            return None
        if not raw.isdigit():
            raise InvalidInput(f"{name} is a number of minutes", field=name)
        return int(raw)

    data = SlaPolicyIn.model_validate(
        {
            "target": text(form, "target"),
            "severity": text(form, "severity"),
            "acknowledge_minutes": minutes("acknowledge_minutes"),
            "resolve_minutes": minutes("resolve_minutes"),
            "instance": flag(form, "instance"),
        }
    )
    with get_database().writing() as session:
        sla_svc.set_policy(session, viewer.ctx, data)
    return redirect("/ui/admin/response", "SLA policy saved")


@router.post("/admin/response/constituency")
def add_constituency(viewer: PageViewer, form: Form) -> Response:
    data = ConstituencyIn.model_validate(
        {"kind": text(form, "kind"), "value": text(form, "value"), "comment": text(form, "comment")}
    )
    with get_database().writing() as session:
        const_svc.add_entry(session, viewer.ctx, data)
    return redirect("/ui/admin/response", f"{data.kind} {data.value} registered")


@router.post("/admin/response/webhooks")
def create_webhook(request: Request, viewer: PageViewer, form: Form) -> Response:
    data = WebhookIn(
        name=text(form, "name"), url=text(form, "url"), topics=lines(form, "topics") or ["*"]
    )
    with get_database().writing() as session:
        _, secret = notify_svc.create_webhook(session, viewer.ctx, data)
    return shown_once(
        request, f"Webhook {data.name} created", "its signing secret", secret, "/ui/admin/response"
    )
