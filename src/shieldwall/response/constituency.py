"""Constituency: the networks each organisation answers for (CIDR blocks, AS numbers,
domains). When intel is published, or a hunt matches an indicator, inside an
organisation's constituency, that organisation gets an alert, even when it did not create
the intel; only for attributes the organisation may read."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shieldwall.audit.service import Actor, record
from shieldwall.auth.models import Organisation
from shieldwall.auth.permissions import Permission
from shieldwall.auth.service import get_org, require
from shieldwall.clock import now
from shieldwall.context import Ctx
from shieldwall.intel.errors import Conflict, Forbidden, InvalidInput, NotFound
from shieldwall.intel.models import Attribute, Event
from shieldwall.intel.types import norm_as, norm_hostname
from shieldwall.intel.visibility import Principal, ReadOptions, attribute_condition
from shieldwall.response.alerts import THREAT_SEVERITY, NewAlert, announce, upsert_alerts
from shieldwall.response.models import ConstituencyEntry, JobMark
from shieldwall.response.schemas import ConstituencyIn

MARK = "constituency-routing"
EVENTS_PER_PASS = 500
_SYSTEM = Actor(label="constituency")

IP_TYPES = {"ip-src", "ip-dst", "ip-src|port", "ip-dst|port", "domain|ip"}
HOST_TYPES = {"domain", "hostname", "hostname|port", "domain|ip"}
EMAIL_TYPES = {
    "email",
    "email-src",
    "email-dst",
    "email-reply-to",
    "target-email",
    "whois-registrant-email",
}
URL_TYPES = {"url", "uri", "link"}
AS_TYPES = {"AS"}
ROUTED_TYPES = IP_TYPES | HOST_TYPES | EMAIL_TYPES | URL_TYPES | AS_TYPES


def check_entry(kind: str, value: str) -> str:
    """The canonical form of a constituency entry, or InvalidInput naming `value`."""
    text = value.strip()
    try:
        if kind == "cidr":
            return str(ipaddress.ip_network(text, strict=False))
        if kind == "asn":
            return norm_as(text)
        if kind == "domain":
            return norm_hostname(text.lstrip("*.").rstrip("."))
    except ValueError as exc:
        raise InvalidInput(f"{value!r} is no {kind}: {exc}", field="value") from None
    raise InvalidInput("kind is cidr, asn or domain", field="kind")


# ---------------------------------------------------------------- entries


def list_entries(session: Session, ctx: Ctx, org_id: int | None = None) -> list[ConstituencyEntry]:
    q = sa.select(ConstituencyEntry)
    if not ctx.principal.is_site_admin:
        q = q.where(ConstituencyEntry.org_id == ctx.org_id)
    elif org_id is not None:
        q = q.where(ConstituencyEntry.org_id == org_id)
    return list(
        session.execute(
            q.order_by(ConstituencyEntry.org_id, ConstituencyEntry.kind, ConstituencyEntry.value)
        ).scalars()
    )


def add_entry(session: Session, ctx: Ctx, data: ConstituencyIn) -> ConstituencyEntry:
    require(ctx, Permission.CONSTITUENCY_MANAGE)
    org_id = ctx.org_id
    if data.org:
        org = get_org(session, data.org)
        if org.id != ctx.org_id and not ctx.principal.is_site_admin:
            raise Forbidden("an organisation registers its own networks (site admins any)")
        org_id = org.id
    value = check_entry(data.kind, data.value)
    if session.execute(
        sa.select(ConstituencyEntry.id).where(
            ConstituencyEntry.org_id == org_id,
            ConstituencyEntry.kind == data.kind,
            ConstituencyEntry.value == value,
        )
    ).first():
        raise Conflict(f"{data.kind} {value} is registered already", field="value")
    entry = ConstituencyEntry(org_id=org_id, kind=data.kind, value=value, comment=data.comment)
    session.add(entry)
    session.flush()
    record(
        session,
        ctx.actor,
        "create",
        "ConstituencyEntry",
        model_id=entry.id,
        title=f"{data.kind} {value}",
        change={"org_id": org_id},
    )
    return entry


def remove_entry(session: Session, ctx: Ctx, entry_id: int) -> None:
    require(ctx, Permission.CONSTITUENCY_MANAGE)
    entry = session.get(ConstituencyEntry, entry_id)
    if entry is None or not (ctx.principal.is_site_admin or entry.org_id == ctx.org_id):
        raise NotFound(f"constituency entry {entry_id} not found", field="entry")
    session.delete(entry)
    session.flush()
    record(
        session,
        ctx.actor,
        "delete",
        "ConstituencyEntry",
        model_id=entry_id,
        title=f"{entry.kind} {entry.value}",
    )


def entry_out(e: ConstituencyEntry) -> dict[str, Any]:
    return {"id": e.id, "org_id": e.org_id, "kind": e.kind, "value": e.value, "comment": e.comment}


# ---------------------------------------------------------------- matching


@dataclass
class Constituencies:
    """Every organisation's entries, for lookups: networks by prefix length, AS numbers
    and domain suffixes, each to the organisations and the entry that matched."""

    nets: dict[int, dict[int, dict[int, list[tuple[int, str]]]]] = field(default_factory=dict)
    asns: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    domains: dict[str, list[tuple[int, str]]] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session) -> Constituencies:
        c = cls()
        for e in session.execute(sa.select(ConstituencyEntry)).scalars():
            c.add(e.org_id, e.kind, e.value)
        return c

    def add(self, org_id: int, kind: str, value: str) -> None:
        label = f"{kind} {value}"
        if kind == "cidr":
            net = ipaddress.ip_network(value, strict=False)
            by_len = self.nets.setdefault(net.version, {}).setdefault(net.prefixlen, {})
            by_len.setdefault(int(net.network_address), []).append((org_id, label))
        elif kind == "asn":
            self.asns.setdefault(value, []).append((org_id, label))
        elif kind == "domain":
            self.domains.setdefault(value, []).append((org_id, label))

    def __bool__(self) -> bool:
        return bool(self.nets or self.asns or self.domains)

    def address(self, text: str) -> list[tuple[int, str]]:
        """Organisations whose networks hold an address or overlap a network."""
        try:
            net = ipaddress.ip_network(text.strip(), strict=False)
        except ValueError:
            return []
        bits = net.max_prefixlen
        value = int(net.network_address)
        out: list[tuple[int, str]] = []
        for plen, starts in self.nets.get(net.version, {}).items():
            if plen <= net.prefixlen:  # an entry that holds the whole indicator
                key = (value >> (bits - plen)) << (bits - plen) if plen else 0
                out.extend(starts.get(key, []))
            else:  # an entry inside the indicator's network
                for start, orgs in starts.items():
                    if (start >> (bits - net.prefixlen)) << (bits - net.prefixlen) == value:
                        out.extend(orgs)
        return out

    def host(self, text: str) -> list[tuple[int, str]]:
        name = text.strip().lower().rstrip(".")
        out: list[tuple[int, str]] = []
        labels = name.split(".")
        for i in range(len(labels)):
            out.extend(self.domains.get(".".join(labels[i:]), []))
        return out

    def asn(self, text: str) -> list[tuple[int, str]]:
        try:
            return list(self.asns.get(norm_as(text), []))
        except ValueError:
            return []

    def match(self, attr_type: str, value1: str, value2: str = "") -> list[tuple[int, str]]:
        """Organisations (with the entry matched) an attribute's value falls in."""
        out: list[tuple[int, str]] = []
        if attr_type == "domain|ip":
            return self.host(value1) + self.address(value2)
        if attr_type in IP_TYPES:
            out += self.address(value1)
        elif attr_type in HOST_TYPES:
            out += self.host(value1)
        elif attr_type in EMAIL_TYPES:
            _, _, domain = value1.rpartition("@")
            out += self.host(domain) if domain else []
        elif attr_type in URL_TYPES:
            out += self.host(_url_host(value1)) + self.address(_url_host(value1))
        elif attr_type in AS_TYPES:
            out += self.asn(value1)
        return out

    def observed(self, observable: str) -> list[tuple[int, str]]:
        """Organisations an observable from telemetry (an address, host or URL) falls in."""
        text = observable.strip()
        if not text:
            return []
        hits = self.address(text)
        if hits:
            return hits
        if "://" in text:
            host = _url_host(text)
            return self.host(host) + self.address(host)
        return self.host(text)


def _url_host(url: str) -> str:
    from urllib.parse import urlsplit

    try:
        host = urlsplit(url if "://" in url else f"http://{url}").hostname
    except ValueError:
        return ""
    return host or ""


def _readable_for(
    session: Session, org_id: int, opts: ReadOptions, attribute_ids: Sequence[int]
) -> set[int]:
    """The attributes an organisation's users may read (a user-level reader of the org)."""
    if not attribute_ids:
        return set()
    reader = Principal(org_id=org_id, kind="organisation")
    return set(
        session.execute(
            sa.select(Attribute.id)
            .join(Event, Event.id == Attribute.event_id)
            .where(Attribute.id.in_(sorted(set(attribute_ids))), attribute_condition(reader, opts))
        ).scalars()
    )


@dataclass(frozen=True)
class Touch:
    """An attribute (and the observable that showed it) inside an organisation's networks."""

    org_id: int
    entry: str
    attribute_id: int
    event_id: int
    attribute_type: str
    value: str
    event_info: str
    threat_level_id: int
    observable: str = ""


def _route(
    session: Session,
    touches: Iterable[Touch],
    origin: str,
    opts: ReadOptions,
    at: datetime,
    owners: dict[int, set[int]],
) -> int:
    by_org: dict[int, list[Touch]] = {}
    for t in touches:
        if t.org_id in owners.get(t.event_id, set()):
            continue  # the event's own organisations made it
        by_org.setdefault(t.org_id, []).append(t)
    raised: list[Any] = []
    for org_id, items in by_org.items():
        readable = _readable_for(session, org_id, opts, [t.attribute_id for t in items])
        news = [
            NewAlert(
                org_id=org_id,
                type="constituency",
                source="constituency",
                source_ref=f"{origin}/attribute-{t.attribute_id}"
                + (f"/{t.observable[:200]}" if t.observable else ""),
                title=f"{t.attribute_type} {t.value[:200]} is in your networks ({t.entry}): {t.event_info[:300]}",
                description=f"Routed because {t.value} falls in {t.entry}, which your organisation registered. Source: {origin}.",
                severity=THREAT_SEVERITY.get(t.threat_level_id, "medium"),
                attribute_id=t.attribute_id,
                event_id=t.event_id,
                observable=t.observable or t.value,
                observable_type=t.attribute_type
                if not t.observable
                else _observable_type(t.observable),
            )
            for t in items
            if t.attribute_id in readable
        ]
        if news:
            new, _ = upsert_alerts(session, news, at)
            raised += new
    if raised:
        announce(session, raised, "alert.routed")
    return len(raised)


def _observable_type(text: str) -> str:
    try:
        ipaddress.ip_address(text)
        return "ip-dst"
    except ValueError:
        return "url" if "://" in text else "hostname"


def _owners(session: Session, event_ids: Iterable[int]) -> dict[int, set[int]]:
    ids = sorted(set(event_ids))
    if not ids:
        return {}
    return {
        eid: {org, orgc}
        for eid, org, orgc in session.execute(
            sa.select(Event.id, Event.org_id, Event.orgc_id).where(Event.id.in_(ids))
        ).all()
    }


def route_published(
    session: Session, opts: ReadOptions | None = None, at: datetime | None = None
) -> tuple[int, int]:
    """Route newly published events (after the stored mark) to the organisations whose
    networks their attributes touch; returns (events looked at, alerts raised)."""
    opts = opts or ReadOptions()
    at = at or now()
    mark = session.get(JobMark, MARK)
    if mark is None:
        mark = JobMark(name=MARK, at=None, last_id=0)
        session.add(mark)
        session.flush()
    c = Constituencies.load(session)
    q = sa.select(Event.id, Event.publish_timestamp, Event.info, Event.threat_level_id).where(
        Event.published.is_(True), Event.publish_timestamp.is_not(None)
    )
    if mark.at is not None:
        q = q.where(
            sa.or_(
                Event.publish_timestamp > mark.at,
                sa.and_(Event.publish_timestamp == mark.at, Event.id > mark.last_id),
            )
        )
    events = session.execute(
        q.order_by(Event.publish_timestamp, Event.id).limit(EVENTS_PER_PASS)
    ).all()
    if not events:
        return 0, 0
    raised = 0
    if c:
        info = {e[0]: (e[2], e[3]) for e in events}
        touches: list[Touch] = []
        ids = sorted(info)
        for start in range(0, len(ids), 200):
            rows = session.execute(
                sa.select(
                    Attribute.id,
                    Attribute.event_id,
                    Attribute.type,
                    Attribute.value1,
                    Attribute.value2,
                ).where(
                    Attribute.event_id.in_(ids[start : start + 200]),
                    Attribute.deleted.is_(False),
                    Attribute.type.in_(sorted(ROUTED_TYPES)),
                )
            ).all()
            for attr_id, event_id, attr_type, v1, v2 in rows:
                for org_id, entry in dict(reversed(c.match(attr_type, v1, v2))).items():
                    touches.append(
                        Touch(
                            org_id,
                            entry,
                            attr_id,
                            event_id,
                            attr_type,
                            f"{v1}|{v2}" if v2 else v1,
                            info[event_id][0],
                            info[event_id][1],
                        )
                    )
        raised = _route(session, touches, "published", opts, at, _owners(session, info))
    last = events[-1]
    mark.at = last[1]
    mark.last_id = last[0]
    session.flush()
    if raised:
        record(
            session,
            _SYSTEM,
            "route",
            "Alert",
            title=f"{raised} alerts routed from {len(events)} published events",
        )
    return len(events), raised


def route_hunt_matches(
    session: Session,
    sensor_org_id: int,
    sensor_name: str,
    matches: Sequence[Any],
    opts: ReadOptions | None = None,
    at: datetime | None = None,
) -> int:
    """Hunt matches whose indicator or observable lies in another organisation's
    networks: that organisation gets an alert (the sensor's own got the hunt's)."""
    c = Constituencies.load(session)
    if not c or not matches:
        return 0
    touches: list[Touch] = []
    for m in matches:
        ref = m.indicator
        v1, _, v2 = ref.value.partition("|") if "|" in ref.type else (ref.value, "", "")
        hits = c.match(ref.type, v1, v2) + c.observed(m.observable)
        # One alert count a match and organisation, however many of its entries it hits.
        for org_id, entry in dict(reversed(hits)).items():
            if org_id == sensor_org_id:
                continue
            touches.append(
                Touch(
                    org_id,
                    entry,
                    ref.attribute_id,
                    ref.event_id,
                    ref.type,
                    ref.value,
                    ref.event_info,
                    ref.threat_level_id,
                    m.observable,
                )
            )
    return _route(
        session,
        touches,
        f"hunt/{sensor_name}",
        opts or ReadOptions(),
        at or now(),
        _owners(session, [t.event_id for t in touches]),
    )


def org_names(session: Session, ids: Iterable[int]) -> dict[int, str]:
    return dict(
        session.execute(
            sa.select(Organisation.id, Organisation.name).where(
                Organisation.id.in_(sorted(set(ids)))
            )
        ).all()
    )
