"""Intel pages: the event list and full-text search, the event (attributes, objects, tags,
galaxy clusters, sightings, warninglist hits; correlations as a list and a graph; proposals
and reports), creating and editing events, attributes, objects and tags, publishing,
attribute search across events, and freetext import with a review step."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from shieldwall.correlation.service import event_correlations
from shieldwall.db.engine import get_database
from shieldwall.exchange.freetext import extract
from shieldwall.intel import events as ev
from shieldwall.intel.common import get_event
from shieldwall.intel.errors import InvalidInput
from shieldwall.intel.proposals import proposals_for_event
from shieldwall.intel.reports import reports_for_event
from shieldwall.intel.schemas import AttributeIn, EventIn, EventUpdate, ObjectIn, TagRef
from shieldwall.intel.search import (
    SearchFilter,
    TagFilter,
    attribute_counts,
    latest_events,
    search_attributes,
)
from shieldwall.intel.serialize import event_detail
from shieldwall.intel.sharing_groups import list_sharing_groups
from shieldwall.intel.templates import templates as object_templates
from shieldwall.intel.types import type_table
from shieldwall.knowledge import warninglists
from shieldwall.knowledge.galaxies import clusters_for_tags
from shieldwall.web import charts
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

router = web_router()
PAGE = 50
ATTRIBUTE_PAGE = 1000

DISTRIBUTIONS = [
    (0, "Your organisation only"),
    (1, "This community only"),
    (2, "Connected communities"),
    (3, "All communities"),
    (4, "Sharing group"),
]
THREAT_LEVELS = [(1, "High"), (2, "Medium"), (3, "Low"), (4, "Undefined")]
ANALYSIS = [(0, "Initial"), (1, "Ongoing"), (2, "Completed")]


def _day(value: str | None, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{field} is a date (YYYY-MM-DD)", field=field) from None


def _start(day: date | None) -> datetime | None:
    from datetime import UTC

    return None if day is None else datetime(day.year, day.month, day.day, tzinfo=UTC)


@router.get("/events", response_class=HTMLResponse)
def events(
    request: Request,
    viewer: PageViewer,
    q: str | None = None,
    tag: str | None = None,
    org: str | None = None,
    published: str | None = None,
    after: int = 0,
) -> Response:
    params = request.query_params
    created_from = _day(params.get("from"), "from")
    created_to = _day(params.get("to"), "to")
    f = SearchFilter(
        tags=TagFilter.from_names([tag]) if tag else TagFilter(),
        org=[org] if org else [],
        published={"1": True, "0": False}.get(published or ""),
        created_from=_start(created_from),
        created_to=_start(created_to + timedelta(days=1)) if created_to else None,
        limit=PAGE,
    )
    with get_database().reading() as session:
        items = _search(session, viewer, f, q.strip() if q else "", after)
        counts = attribute_counts(session, viewer.ctx, [e.id for e in items])
        tags = {e.id: [t["name"] for t in _tags(session, viewer, e.id)] for e in items}
        return render(
            request,
            "events.html",
            items=items,
            counts=counts,
            tags=tags,
            next=items[-1].id if len(items) == PAGE else None,
            filters={k: v for k, v in params.items() if k != "after" and v},
        )


def _search(session: Any, viewer: Any, f: SearchFilter, q: str, before: int) -> list[Any]:
    """The page of events, newest first; with a search, those whose info holds the words
    or that hold the value (exact, or a prefix when it ends in %, through the value index:
    a search never reads every attribute), merged."""
    if not q:
        return latest_events(session, viewer.ctx, f, before)
    by_info = latest_events(session, viewer.ctx, replace(f, info=q), before)
    by_value = latest_events(session, viewer.ctx, replace(f, value=[q]), before)
    merged = {e.id: e for e in [*by_info, *by_value]}
    return [merged[i] for i in sorted(merged, reverse=True)[: f.limit]]


def _tags(session: Any, viewer: Any, event_id: int) -> list[dict[str, Any]]:
    from shieldwall.intel.serialize import event_tags

    return event_tags(session, viewer.ctx, event_id)


def _event_form_data(session: Any, viewer: Any) -> dict[str, Any]:
    return {
        "distributions": DISTRIBUTIONS,
        "threat_levels": THREAT_LEVELS,
        "analysis": ANALYSIS,
        "sharing_groups": [(g.id, g.name) for g in list_sharing_groups(session, viewer.ctx)],
        "types": type_table().types,
        "categories": type_table().categories,
    }


@router.get("/events/new", response_class=HTMLResponse)
def new_event(request: Request, viewer: PageViewer) -> Response:
    with get_database().reading() as session:
        return render(request, "event_new.html", **_event_form_data(session, viewer))


def _attribute_lines(form: FormData, field: str = "attributes") -> list[AttributeIn]:
    """Lines of `type, value[, comment]`; a line with only a value is typed by freetext."""
    out: list[AttributeIn] = []
    for i, line in enumerate(text(form, field).splitlines()):
        line = line.strip()
        if not line:
            continue
        kind, sep, rest = line.partition(",")
        if sep and kind.strip() in type_table().types:
            value, _, comment = rest.strip().partition(",")
            out.append(AttributeIn(type=kind.strip(), value=value.strip(), comment=comment.strip()))
            continue
        found = extract(line)
        if not found:
            raise InvalidInput(
                f"line {i + 1}: no indicator in {line[:80]!r}; write type, value", field=field
            )
        out.extend(
            AttributeIn(type=x.type, value=x.value, category=x.category, to_ids=x.to_ids)
            for x in found
        )
    return out


def _int(form: FormData, name: str, default: int) -> int:
    raw = text(form, name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"{name} is a number", field=name) from None


@router.post("/events")
def create_event(viewer: PageViewer, form: Form) -> Response:
    data = EventIn.model_validate(
        {
            "info": text(form, "info"),
            "date": _day(opt(form, "date"), "date"),
            "distribution": _int(form, "distribution", 0),
            "sharing_group_id": opt(form, "sharing_group_id"),
            "threat_level_id": _int(form, "threat_level_id", 2),
            "analysis": _int(form, "analysis", 0),
            "tags": [{"name": t} for t in lines(form, "tags")],
            "attributes": _attribute_lines(form),
        }
    )
    with get_database().writing() as session:
        event = ev.create_event(session, viewer.ctx, data)
        event_id = event.id
    return redirect(f"/ui/events/{event_id}", "event created")


def _galaxies(session: Any, tag_names: list[str]) -> list[dict[str, Any]]:
    return [
        {"galaxy": g["name"], "value": c["value"], "description": c.get("description", "")}
        for c, g in clusters_for_tags(session, tag_names)
    ]


@router.get("/events/{ref}", response_class=HTMLResponse)
def event_page(
    request: Request, viewer: PageViewer, ref: str, after: int = 0, filter: str | None = None
) -> Response:
    with get_database().reading() as session:
        event = get_event(session, viewer.ctx, ref)
        detail = warninglists.flag_event(session, event_detail(session, viewer.ctx, event))
        attrs = detail["attributes"]
        if filter:
            needle = filter.lower()
            attrs = [
                a
                for a in attrs
                if needle in a["value"].lower()
                or needle in a["type"]
                or needle in (a["comment"] or "").lower()
            ]
        total = len(attrs)
        attrs = [a for a in attrs if a["id"] > after][:ATTRIBUTE_PAGE]
        tag_names = [t["name"] for t in detail["tags"]]
        from shieldwall.intel.serialize import sightings_last_seen
        from shieldwall.intel.visibility import can_edit_event

        last_seen = sightings_last_seen(session, viewer.ctx, [a["id"] for a in attrs], event.id)

        return render(
            request,
            "event.html",
            event=event,
            detail=detail,
            attributes=attrs,
            total=total,
            next=attrs[-1]["id"] if len(attrs) == ATTRIBUTE_PAGE else None,
            filter=filter or "",
            galaxies=_galaxies(session, tag_names),
            last_seen=last_seen,
            proposals=proposals_for_event(session, viewer.ctx, event.id),
            reports=reports_for_event(session, viewer.ctx, event.id),
            editable=can_edit_event(viewer.ctx.principal, event),
            templates=sorted(object_templates()),
            **_event_form_data(session, viewer),
        )


@router.get("/events/{ref}/correlations", response_class=HTMLResponse)
def correlations(request: Request, viewer: PageViewer, ref: str) -> Response:
    with get_database().reading() as session:
        event = get_event(session, viewer.ctx, ref)
        found = event_correlations(session, viewer.ctx, event.id)
        graph = charts.graph(
            (str(event.id), event.info),
            [
                (str(e["id"]), e["info"], f"/ui/events/{e['id']}")
                for e in found["related_events"][:40]
            ],
        )
        return render(request, "correlations.html", event=event, found=found, graph=graph)


@router.post("/events/{ref}/edit")
def edit_event(ref: str, viewer: PageViewer, form: Form) -> Response:
    change: dict[str, Any] = {}
    if opt(form, "info") is not None:
        change["info"] = text(form, "info")
    for name in ("distribution", "threat_level_id", "analysis"):
        if opt(form, name) is not None:
            change[name] = _int(form, name, 0)
    if "sharing_group_id" in form:
        change["sharing_group_id"] = opt(form, "sharing_group_id")
    with get_database().writing() as session:
        ev.update_event(session, viewer.ctx, ref, EventUpdate(**change))
    return redirect(f"/ui/events/{ref}", "event saved")


@router.post("/events/{ref}/publish")
def publish(ref: str, viewer: PageViewer, form: Form) -> Response:
    publish_it = text(form, "action", "publish") == "publish"
    with get_database().writing() as session:
        ev.publish_event(session, viewer.ctx, ref, publish_it)
    return redirect(f"/ui/events/{ref}", "published" if publish_it else "unpublished")


@router.post("/events/{ref}/delete")
def delete_event(ref: str, viewer: PageViewer, form: Form) -> Response:
    with get_database().writing() as session:
        ev.delete_event(session, viewer.ctx, ref)
    return redirect("/ui/events", "event deleted")


@router.post("/events/{ref}/tags")
def tag_event(ref: str, viewer: PageViewer, form: Form) -> Response:
    names = lines(form, "tag")
    if not names:
        raise InvalidInput("name a tag", field="tag")
    with get_database().writing() as session:
        ev.tag_event(
            session, viewer.ctx, ref, [TagRef(name=n, local=flag(form, "local")) for n in names]
        )
    return redirect(f"/ui/events/{ref}", f"tagged {', '.join(names)}")


@router.post("/events/{ref}/tags/remove")
def untag_event(ref: str, viewer: PageViewer, form: Form) -> Response:
    with get_database().writing() as session:
        ev.untag_event(session, viewer.ctx, ref, text(form, "tag"))
    return redirect(f"/ui/events/{ref}", "tag removed")


@router.post("/events/{ref}/attributes")
def add_attributes(ref: str, viewer: PageViewer, form: Form) -> Response:
    items: list[AttributeIn]
    if opt(form, "value") is not None:
        items = [
            AttributeIn(
                type=text(form, "type"),
                value=text(form, "value"),
                category=opt(form, "category"),
                to_ids=flag(form, "to_ids") if "to_ids_set" in form else None,
                comment=text(form, "comment"),
                distribution=_int(form, "distribution", 5),
                tags=[TagRef(name=t) for t in lines(form, "tags")],
            )
        ]
    else:
        items = _attribute_lines(form, "lines")
    if not items:
        raise InvalidInput("give a value, or lines of type, value", field="value")
    with get_database().writing() as session:
        added = ev.add_attributes(session, viewer.ctx, ref, items, break_on_duplicate=False)
    return redirect(f"/ui/events/{ref}", f"{len(added)} attributes added")


@router.post("/events/{ref}/attributes/{attribute}/delete")
def delete_attribute(ref: str, attribute: str, viewer: PageViewer, form: Form) -> Response:
    with get_database().writing() as session:
        ev.delete_attribute(session, viewer.ctx, attribute, hard=False)
    return redirect(f"/ui/events/{ref}", "attribute deleted")


@router.get("/events/{ref}/attributes/{attribute}/edit", response_class=HTMLResponse)
def edit_attribute_page(request: Request, viewer: PageViewer, ref: str, attribute: str) -> Response:
    from shieldwall.intel.common import get_attribute
    from shieldwall.intel.serialize import attributes_with_tags

    with get_database().reading() as session:
        attr, event = get_attribute(session, viewer.ctx, attribute)
        shown = attributes_with_tags(session, viewer.ctx, [attr], event_id=event.id)[0]
        return render(
            request,
            "attribute_edit.html",
            attr=attr,
            event=event,
            tags=[t["name"] for t in shown["tags"]],
            categories=type_table().categories,
            distributions=[(5, "Inherit the event"), *DISTRIBUTIONS],
        )


@router.post("/events/{ref}/attributes/{attribute}/edit")
def edit_attribute(ref: str, attribute: str, viewer: PageViewer, form: Form) -> Response:
    from shieldwall.intel.schemas import AttributeUpdate

    data = AttributeUpdate.model_validate(
        {
            "value": text(form, "value"),
            "category": text(form, "category"),
            "to_ids": flag(form, "to_ids"),
            "comment": text(form, "comment"),
            "distribution": _int(form, "distribution", 5),
        }
    )
    add = lines(form, "add_tags")
    with get_database().writing() as session:
        attr = ev.update_attribute(session, viewer.ctx, attribute, data)
        if add:
            ev.tag_attribute(session, viewer.ctx, attr.id, [TagRef(name=n) for n in add])
        for name in many(form, "remove_tag"):
            ev.untag_attribute(session, viewer.ctx, attr.id, name)
        event_id = attr.event_id
    return redirect(f"/ui/events/{event_id}#a{attribute}", "attribute saved")


@router.get("/events/{ref}/objects/new", response_class=HTMLResponse)
def new_object(request: Request, viewer: PageViewer, ref: str, template: str) -> Response:
    tpl = object_templates().get(template)
    if tpl is None:
        raise InvalidInput(f"no object template {template!r}", field="template")
    with get_database().reading() as session:
        event = get_event(session, viewer.ctx, ref)
        return render(request, "object_new.html", event=event, template=tpl.summary())


@router.post("/events/{ref}/objects")
def add_object(ref: str, viewer: PageViewer, form: Form) -> Response:
    name = text(form, "template")
    tpl = object_templates().get(name)
    if tpl is None:
        raise InvalidInput(f"no object template {name!r}", field="template")
    attrs = []
    for relation, spec in tpl.attributes.items():
        for value in form.getlist(f"attr:{relation}"):
            if isinstance(value, str) and value.strip():
                attrs.append(
                    AttributeIn(
                        type=spec.get("misp-attribute", "text"),
                        value=value.strip(),
                        object_relation=relation,
                    )
                )
    data = ObjectIn(
        name=tpl.name,
        template_uuid=tpl.uuid,
        template_version=tpl.version,
        comment=text(form, "comment"),
        distribution=_int(form, "distribution", 5),
        attributes=attrs,
    )
    with get_database().writing() as session:
        ev.add_object(session, viewer.ctx, ref, data)
    return redirect(f"/ui/events/{ref}", f"{tpl.name} object added")


@router.post("/events/{ref}/proposals/{proposal}")
def decide_proposal(ref: str, proposal: str, viewer: PageViewer, form: Form) -> Response:
    """Accept or discard a proposal (the event's editors)."""
    from shieldwall.intel.proposals import accept_proposal, discard_proposal

    accept = text(form, "action") == "accept"
    with get_database().writing() as session:
        if accept:
            accept_proposal(session, viewer.ctx, proposal)
        else:
            discard_proposal(session, viewer.ctx, proposal)
    return redirect(
        f"/ui/events/{ref}#proposals", "proposal accepted" if accept else "proposal discarded"
    )


@router.post("/events/{ref}/proposals")
def propose(ref: str, viewer: PageViewer, form: Form) -> Response:
    """Propose an attribute to an event the caller may read but not edit."""
    from shieldwall.intel.proposals import ProposalIn, propose_attribute

    data = ProposalIn.model_validate(
        {"type": text(form, "type"), "value": text(form, "value"), "comment": text(form, "comment")}
    )
    with get_database().writing() as session:
        propose_attribute(session, viewer.ctx, ref, data)
    return redirect(f"/ui/events/{ref}#proposals", "proposal sent to the event's organisation")


@router.post("/events/{ref}/reports")
def add_report(ref: str, viewer: PageViewer, form: Form) -> Response:
    from shieldwall.intel.reports import ReportIn, create_report

    data = ReportIn(
        name=text(form, "name"),
        content=text(form, "content"),
        distribution=_int(form, "distribution", 5),
    )
    with get_database().writing() as session:
        create_report(session, viewer.ctx, ref, data)
    return redirect(f"/ui/events/{ref}#reports", "report added")


@router.post("/events/{ref}/objects/{obj}/attributes")
def add_object_attribute(ref: str, obj: str, viewer: PageViewer, form: Form) -> Response:
    """One more attribute in an object, by relation (the template's type for it)."""
    from shieldwall.intel.common import get_object

    relation = text(form, "relation")
    with get_database().writing() as session:
        o, _ = get_object(session, viewer.ctx, obj)
        tpl = object_templates().get(o.name)
        spec = tpl.attributes.get(relation) if tpl else None
        if spec is None:
            raise InvalidInput(
                f"the {o.name} template has no relation {relation!r}", field="relation"
            )
        item = AttributeIn(
            type=spec.get("misp-attribute", "text"),
            value=text(form, "value"),
            object_relation=relation,
        )
        ev.add_object_attributes(session, viewer.ctx, o.id, [item])
    return redirect(f"/ui/events/{ref}#object-{obj}", f"{relation} added")


@router.post("/events/{ref}/objects/{obj}/references")
def add_object_reference(ref: str, obj: str, viewer: PageViewer, form: Form) -> Response:
    from shieldwall.intel.schemas import ReferenceIn

    data = ReferenceIn.model_validate(
        {
            "referenced_uuid": text(form, "referenced_uuid"),
            "relationship_type": text(form, "relationship_type"),
        }
    )
    with get_database().writing() as session:
        ev.add_reference(session, viewer.ctx, obj, data)
    return redirect(f"/ui/events/{ref}#object-{obj}", "reference added")


@router.post("/events/{ref}/objects/{obj}/delete")
def delete_object(ref: str, obj: str, viewer: PageViewer, form: Form) -> Response:
    with get_database().writing() as session:
        ev.delete_object(session, viewer.ctx, obj)
    return redirect(f"/ui/events/{ref}", "object deleted")


@router.get("/attributes", response_class=HTMLResponse)
def attribute_search(
    request: Request,
    viewer: PageViewer,
    value: str | None = None,
    type: str | None = None,
    category: str | None = None,
    tag: str | None = None,
    org: str | None = None,
    to_ids: str | None = None,
    after: int = 0,
) -> Response:
    params = request.query_params
    sighted_from = _day(params.get("sighted_from"), "sighted_from")
    searched = any([value, type, category, tag, org, to_ids, sighted_from])
    items: list[Any] = []
    sightings: dict[int, dict[str, int]] = {}
    if searched:
        f = SearchFilter(
            value=[v for v in (value or "").split() if v],
            type=[type] if type else [],
            category=[category] if category else [],
            tags=TagFilter.from_names([tag]) if tag else TagFilter(),
            org=[org] if org else [],
            to_ids={"1": True, "0": False}.get(to_ids or ""),
            after=after,
            limit=PAGE,
        )
        with get_database().reading() as session:
            if sighted_from:
                items = _sighted_since(session, viewer, _start(sighted_from), after)
            else:
                items = search_attributes(session, viewer.ctx, f)
            from shieldwall.intel.serialize import sighting_counts

            sightings = sighting_counts(session, viewer.ctx, [a.id for a, _ in items])
            flags = (
                warninglists.hits(session, [(a.type, a.value) for a, _ in items]) if items else []
            )
    else:
        flags = []
    return render(
        request,
        "attributes.html",
        items=items,
        sightings=sightings,
        flags=flags,
        searched=searched,
        types=type_table().types,
        categories=type_table().categories,
        next=items[-1][0].id if len(items) == PAGE else None,
        filters={k: v for k, v in params.items() if k != "after" and v},
    )


def _sighted_since(session: Any, viewer: Any, since: datetime | None, after: int) -> list[Any]:
    """Readable attributes with readable sightings since a day (the picture's sightings)."""
    import sqlalchemy as sa

    from shieldwall.intel.models import Attribute, Event, Sighting
    from shieldwall.intel.visibility import attribute_condition, sighting_condition

    sighted = (
        sa.select(Sighting.attribute_id)
        .join(Attribute, Attribute.id == Sighting.attribute_id)
        .join(Event, Event.id == Sighting.event_id)
        .where(
            Sighting.date_sighting >= since,
            Sighting.type == 0,
            sighting_condition(viewer.ctx.principal, viewer.ctx.opts),
        )
    )
    rows = session.execute(
        sa.select(Attribute, Event.uuid)
        .join(Event, Event.id == Attribute.event_id)
        .where(
            Attribute.id.in_(sighted),
            Attribute.id > after,
            attribute_condition(viewer.ctx.principal, viewer.ctx.opts),
        )
        .order_by(Attribute.id)
        .limit(PAGE)
    ).all()
    return [(r[0], r[1]) for r in rows]


@router.get("/freetext", response_class=HTMLResponse)
def freetext(request: Request, viewer: PageViewer, event: str | None = None) -> Response:
    return render(
        request,
        "freetext.html",
        found=None,
        source="",
        event_ref=event or "",
        distributions=DISTRIBUTIONS,
    )


@router.post("/freetext/review", response_class=HTMLResponse)
def freetext_review(request: Request, viewer: PageViewer, form: Form) -> Response:
    source = text(form, "text")
    if not source:
        raise InvalidInput("paste some text", field="text")
    found = extract(source)
    with get_database().reading() as session:
        hits = warninglists.hits(session, [(i.type, i.value) for i in found]) if found else []
    return render(
        request,
        "freetext.html",
        found=list(zip(found, hits, strict=True)),
        source=source,
        event_ref=text(form, "event"),
        distributions=DISTRIBUTIONS,
    )


@router.post("/freetext/save")
def freetext_save(viewer: PageViewer, form: Form) -> Response:
    chosen = [int(i) for i in form.getlist("pick") if isinstance(i, str) and i.isdigit()]
    if not chosen:
        raise InvalidInput("choose at least one indicator", field="pick")
    items = []
    for i in chosen:
        kind = text(form, f"type:{i}")
        value = text(form, f"value:{i}")
        items.append(
            AttributeIn(
                type=kind, value=value, to_ids=flag(form, f"ids:{i}"), comment=text(form, "comment")
            )
        )
    target = opt(form, "event")
    with get_database().writing() as session:
        if target:
            ev.add_attributes(session, viewer.ctx, target, items, break_on_duplicate=False)
            event_id = get_event(session, viewer.ctx, target).id
        else:
            event = ev.create_event(
                session,
                viewer.ctx,
                EventIn(
                    info=text(form, "info") or "Freetext import",
                    distribution=_int(form, "distribution", 0),
                    threat_level_id=2,
                    attributes=items,
                ),
            )
            event_id = event.id
    return redirect(f"/ui/events/{event_id}", f"{len(items)} indicators saved")
