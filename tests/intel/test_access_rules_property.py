"""Property test of the access rules: Hypothesis generates organisations, users, sharing
groups, events, objects, attributes, tags and sightings; every read path of the native API
must return, for every user, exactly what the plain-Python reference model allows.

The world is written straight into the database with the ORM, past the write-side guards
(a tlp:red event with distribution 3, a distribution-4 event without a sharing group, a
sharing group whose creator is not a member): the read side must hold for any stored data.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from tests import reference_model as ref

from shieldwall.api.deps import settings_dep
from shieldwall.auth import service as auth
from shieldwall.auth.models import ApiKey, Organisation, Role, User
from shieldwall.config import get_settings
from shieldwall.context import system_ctx
from shieldwall.intel.models import (
    Attribute,
    AttributeTag,
    Event,
    EventTag,
    MispObject,
    ObjectReference,
    SharingGroup,
    SharingGroupOrg,
    SharingGroupServer,
    Sighting,
    Tag,
)
from shieldwall.intel.statistics import readable_attribute_counts
from shieldwall.intel.visibility import ReadOptions, event_condition

ROLE_IDS = {"site_admin": 1, "org_admin": 2, "user": 3, "publisher": 4, "read_only": 6}
NON_ADMIN_ROLES = ["user", "org_admin", "publisher", "read_only"]
# Both spellings of the guarded markings: the guard compares names case-insensitively.
TAG_NAMES = [
    "tlp:red",
    "tlp:amber+strict",
    "tlp:green",
    "TLP:RED",
    "TLP:Amber+Strict",
    "internal:x",
]
ATTRIBUTE_TYPES = {"ip-dst": "Network activity", "domain": "Network activity"}
PAGE = 4  # small pages, so keyset paging is exercised


# ---------------------------------------------------------------- the generated world


@dataclass
class SgSpec:
    creator: int
    members: frozenset[int]
    all_local_orgs: bool
    local_entry: bool  # this instance's server entry, without all_orgs unless all_local_orgs
    remote_all_orgs: bool  # a peer's entry with all_orgs: gives no local organisation access


@dataclass
class ObjSpec:
    distribution: int
    sg: int | None
    deleted: bool


@dataclass
class AttrSpec:
    type: str
    distribution: int
    sg: int | None
    deleted: bool
    obj: int | None
    tags: frozenset[str]
    sightings: list[tuple[int, int]]  # (organisation index, sighting type)


@dataclass
class EventSpec:
    org: int
    orgc: int
    distribution: int
    sg: int | None
    published: bool
    tags: frozenset[str]
    objects: list[ObjSpec] = field(default_factory=list)
    attributes: list[AttrSpec] = field(default_factory=list)


@dataclass
class WorldSpec:
    n_orgs: int
    users: list[tuple[int, str]]  # (organisation index, role); organisation 0 is the host
    tag_orgs: dict[str, int | None]
    sharing_groups: list[SgSpec]
    events: list[EventSpec]
    unpublished_private: bool
    sighting_policy: str
    search_type: str
    search_tag: str


@st.composite
def worlds(draw: st.DrawFn) -> WorldSpec:
    n = draw(st.integers(2, 4))
    orgs = st.integers(0, n - 1)
    users: list[tuple[int, str]] = []
    for i in range(n):
        # Site admins belong to the host organisation (index 0).
        roles = NON_ADMIN_ROLES + (["site_admin"] if i == 0 else [])
        # One user per organisation: every read path is checked for every user, which is
        # what the time goes on; the roles vary from example to example.
        users.append((i, draw(st.sampled_from(roles))))
    tag_orgs = {name: draw(st.one_of(st.none(), st.none(), orgs)) for name in TAG_NAMES}
    sgs = draw(
        st.lists(
            st.builds(
                SgSpec,
                creator=orgs,
                members=st.frozensets(orgs, max_size=n),
                all_local_orgs=st.booleans(),
                local_entry=st.booleans(),
                remote_all_orgs=st.booleans(),
            ),
            max_size=3,
        )
    )
    sg_ref = st.none() if not sgs else st.one_of(st.none(), st.integers(0, len(sgs) - 1))
    sg_pick = sg_ref if not sgs else st.one_of(st.integers(0, len(sgs) - 1), sg_ref)
    tags = st.frozensets(st.sampled_from(TAG_NAMES), max_size=2)
    events: list[EventSpec] = []
    for _ in range(draw(st.integers(1, 4))):
        org = draw(orgs)
        e = EventSpec(
            org=org,
            orgc=draw(st.one_of(st.just(org), orgs)),
            # Sharing groups get a larger share: their rules have the most cases.
            distribution=draw(st.sampled_from([0, 1, 2, 3, 4, 4])),
            sg=draw(sg_pick),
            published=draw(st.booleans()),
            # Half the events unmarked, so more of them are readable outside the owner.
            tags=draw(st.one_of(st.just(frozenset[str]()), tags)),
        )
        e.objects = draw(
            st.lists(
                st.builds(
                    ObjSpec, distribution=st.integers(0, 5), sg=sg_pick, deleted=st.booleans()
                ),
                max_size=2,
            )
        )
        obj_ref = (
            st.none() if not e.objects else st.one_of(st.none(), st.integers(0, len(e.objects) - 1))
        )
        e.attributes = draw(
            st.lists(
                st.builds(
                    AttrSpec,
                    type=st.sampled_from(sorted(ATTRIBUTE_TYPES)),
                    distribution=st.integers(0, 5),
                    sg=sg_pick,
                    deleted=st.booleans(),
                    obj=obj_ref,
                    tags=tags,
                    sightings=st.lists(st.tuples(orgs, st.integers(0, 2)), max_size=2),
                ),
                max_size=3,
            )
        )
        events.append(e)
    return WorldSpec(
        n_orgs=n,
        users=users,
        tag_orgs=tag_orgs,
        sharing_groups=sgs,
        events=events,
        unpublished_private=draw(st.booleans()),
        sighting_policy=draw(st.sampled_from(["owner", "reporters", "event", "host"])),
        search_type=draw(st.sampled_from(sorted(ATTRIBUTE_TYPES))),
        search_tag=draw(st.sampled_from(TAG_NAMES)),
    )


# ---------------------------------------------------------------- database set-up


INTEL_TABLES = [
    Sighting,
    AttributeTag,
    EventTag,
    ObjectReference,
    Attribute,
    MispObject,
    Event,
    SharingGroupServer,
    SharingGroupOrg,
    SharingGroup,
    Tag,
]


def _reset(instance: Any) -> None:
    """Empty the intel tables and every organisation, user and key but the instance's own."""
    with instance.db.engine.begin() as conn:
        for model in INTEL_TABLES:
            conn.execute(sa.delete(model))
        conn.execute(sa.delete(ApiKey).where(ApiKey.user_id != instance.admin_id))
        conn.execute(sa.delete(User).where(User.id != instance.admin_id))
        conn.execute(sa.delete(Organisation).where(Organisation.id != instance.host_org_id))


@dataclass
class Account:
    label: str
    reader: ref.Reader
    headers: dict[str, str]
    user_id: int = 0


def _insert(instance: Any, spec: WorldSpec) -> tuple[ref.World, list[Account]]:
    world = ref.World(host_org_id=instance.host_org_id)
    accounts: list[Account] = []
    ctx = system_ctx(instance.host_org_id)
    with instance.db.writing() as s:
        org_ids = [instance.host_org_id]
        for i in range(1, spec.n_orgs):
            org = Organisation(name=f"ORG-{i}", local=True)
            s.add(org)
            s.flush()
            org_ids.append(org.id)
        roles = {r.id: r for r in s.execute(sa.select(Role)).scalars()}
        for n, (i, role) in enumerate(spec.users):
            user = User(email=f"u{n}-{role}@org{i}.test", org_id=org_ids[i], role_id=ROLE_IDS[role])
            user.role = roles[ROLE_IDS[role]]
            s.add(user)
            s.flush()
            _, key = auth.create_key(s, ctx, user)
            accounts.append(
                Account(
                    f"{role} of org {i}",
                    ref.Reader(org_ids[i], role == "site_admin"),
                    {"Authorization": key},
                    user.id,
                )
            )

        tag_ids: dict[str, int] = {}
        for name in TAG_NAMES:
            owner = spec.tag_orgs[name]
            tag = Tag(name=name, org_id=None if owner is None else org_ids[owner])
            s.add(tag)
            s.flush()
            tag_ids[name] = tag.id
            world.tags[tag.id] = ref.Tag(tag.id, name, tag.org_id)

        sg_ids: list[int] = []
        for k, g in enumerate(spec.sharing_groups):
            sg = SharingGroup(name=f"SG-{k}", org_id=org_ids[g.creator])
            sg.members = [
                SharingGroupOrg(org_id=org_ids[m], extend=False) for m in sorted(g.members)
            ]
            if g.local_entry or g.all_local_orgs:
                sg.servers.append(
                    SharingGroupServer(
                        server_url=None, server_name="this instance", all_orgs=g.all_local_orgs
                    )
                )
            if g.remote_all_orgs:
                sg.servers.append(
                    SharingGroupServer(
                        server_url="https://peer.example", server_name="peer", all_orgs=True
                    )
                )
            s.add(sg)
            s.flush()
            sg_ids.append(sg.id)
            world.sharing_groups[sg.id] = ref.SharingGroup(
                sg.id, org_ids[g.creator], {org_ids[m] for m in g.members}, g.all_local_orgs
            )

        def sg_id(k: int | None) -> int | None:
            return None if k is None else sg_ids[k]

        for ei, es in enumerate(spec.events):
            ev = Event(
                info=f"event {ei}",
                date=date(2024, 1, 1),
                distribution=es.distribution,
                sharing_group_id=sg_id(es.sg),
                org_id=org_ids[es.org],
                orgc_id=org_ids[es.orgc],
                published=es.published,
            )
            s.add(ev)
            s.flush()
            for name in sorted(es.tags):
                s.add(EventTag(event_id=ev.id, tag_id=tag_ids[name]))
            world.events[ev.id] = ref.Event(
                ev.id,
                ev.org_id,
                ev.orgc_id,
                es.distribution,
                sg_id(es.sg),
                es.published,
                {tag_ids[t] for t in es.tags},
            )
            obj_ids: list[int] = []
            for oi, os_ in enumerate(es.objects):
                obj = MispObject(
                    event_id=ev.id,
                    name="domain-ip",
                    distribution=os_.distribution,
                    sharing_group_id=sg_id(os_.sg),
                    deleted=os_.deleted,
                    comment=f"o{oi}",
                )
                s.add(obj)
                s.flush()
                obj_ids.append(obj.id)
                world.objects[obj.id] = ref.Object(
                    obj.id, ev.id, os_.distribution, sg_id(os_.sg), os_.deleted
                )
            for ai, a in enumerate(es.attributes):
                value = f"10.{ei}.{ai}.1" if a.type == "ip-dst" else f"a{ai}.e{ei}.example"
                object_id = None if a.obj is None else obj_ids[a.obj]
                attr = Attribute(
                    event_id=ev.id,
                    object_id=object_id,
                    object_relation=None
                    if object_id is None
                    else ("ip" if a.type == "ip-dst" else "domain"),
                    category=ATTRIBUTE_TYPES[a.type],
                    type=a.type,
                    value1=value,
                    distribution=a.distribution,
                    sharing_group_id=sg_id(a.sg),
                    deleted=a.deleted,
                )
                s.add(attr)
                s.flush()
                for name in sorted(a.tags):
                    s.add(AttributeTag(attribute_id=attr.id, event_id=ev.id, tag_id=tag_ids[name]))
                world.attributes[attr.id] = ref.Attribute(
                    attr.id,
                    ev.id,
                    object_id,
                    a.distribution,
                    sg_id(a.sg),
                    a.deleted,
                    a.type,
                    {tag_ids[t] for t in a.tags},
                )
                for org_index, kind in a.sightings:
                    sighting = Sighting(
                        attribute_id=attr.id, event_id=ev.id, org_id=org_ids[org_index], type=kind
                    )
                    s.add(sighting)
                    s.flush()
                    world.sightings[sighting.id] = ref.Sighting(
                        sighting.id, attr.id, ev.id, sighting.org_id, kind
                    )
    return world, accounts


# ---------------------------------------------------------------- reading through the API


ALL = 1000  # one page holds a whole generated world


def _ok(r: Any) -> Any:
    assert r.status_code == 200, (str(r.request.url), r.status_code, r.text)
    return r.json()


def _pages(
    client: Any, acc: Account, url: str, limit: int = PAGE, **params: Any
) -> list[dict[str, Any]]:
    """Every item of a keyset-paged list, checking the pages are in id order without repeats."""
    items: list[dict[str, Any]] = []
    after = 0
    for _ in range(1000):
        body = _ok(
            client.get(url, headers=acc.headers, params={**params, "after": after, "limit": limit})
        )
        items.extend(body["items"])
        if body["next"] is None:
            break
        assert body["next"] == body["items"][-1]["id"]
        after = body["next"]
    ids = [i["id"] for i in items]
    assert ids == sorted(set(ids)), (url, ids)
    return items


def _ndjson(client: Any, acc: Account, url: str, **params: Any) -> list[dict[str, Any]]:
    r = client.get(url, headers=acc.headers, params={**params, "format": "ndjson"})
    assert r.status_code == 200, (url, r.text)
    assert r.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in r.text.splitlines() if line.strip()]


def _ids(items: list[dict[str, Any]]) -> set[int]:
    return {i["id"] for i in items}


def _check_detail(
    acc: Account,
    world: ref.World,
    opts: ref.Options,
    event_id: int,
    include_deleted: bool,
    detail: dict[str, Any],
) -> None:
    """One event's detail: its attributes (loose and in objects), objects, tags and the
    sighting counts of every attribute."""
    rd, who = acc.reader, acc.label
    in_objects = [a for o in detail["objects"] for a in o["attributes"]]
    attributes = [*detail["attributes"], *in_objects]
    got = _ids(attributes)
    want = world.readable_attributes(rd, opts, include_deleted, event_id=event_id)
    assert len(attributes) == len(got), (who, "an attribute listed twice", event_id)
    assert got == want, (who, "event detail attributes", event_id, include_deleted, got, want)
    got = _ids(detail["objects"])
    want = world.readable_objects(rd, opts, include_deleted, event_id=event_id)
    assert got == want, (who, "event detail objects", event_id, include_deleted, got, want)
    assert all(a["object_id"] is None for a in detail["attributes"])
    assert all(a["object_id"] == o["id"] for o in detail["objects"] for a in o["attributes"])
    tags = {t["name"] for t in detail["tags"]}
    assert tags == world.visible_tag_names(rd, world.events[event_id].tag_ids), (
        who,
        "event tags",
        event_id,
    )
    for a in attributes:
        counts = world.sighting_counts(rd, opts, a["id"])
        assert a["sightings"] == counts, (who, "sighting counts", a["id"], a["sightings"], counts)
        tags = {t["name"] for t in a["tags"]}
        assert tags == world.visible_tag_names(rd, world.attributes[a["id"]].tag_ids), (
            who,
            a["id"],
        )


def _check_account(
    client: Any, acc: Account, world: ref.World, opts: ref.Options, spec: WorldSpec
) -> None:
    rd, who, h = acc.reader, acc.label, acc.headers

    # Events: the list (paged and streamed), the event search (plain and by attribute type).
    events = world.readable_events(rd, opts)
    got = _ids(_pages(client, acc, "/api/v1/events"))
    assert got == events, (who, "GET /events", got, events)
    got = _ids(_pages(client, acc, "/api/v1/search/events", limit=ALL))
    assert got == events, (who, "GET /search/events", got, events)
    got = _ids(_pages(client, acc, "/api/v1/search/events", limit=ALL, type=spec.search_type))
    want = world.events_with_attribute_type(rd, opts, spec.search_type)
    assert got == want, (who, f"GET /search/events?type={spec.search_type}", got, want)

    # Each event by id: 200 with exactly the readable content, or 404.
    for e in world.events.values():
        r = client.get(f"/api/v1/events/{e.id}", headers=h)
        assert r.status_code == (200 if e.id in events else 404), (
            who,
            "GET event",
            e,
            r.status_code,
        )
        if e.id in events:
            _check_detail(acc, world, opts, e.id, False, r.json())
            detail = _ok(
                client.get(f"/api/v1/events/{e.id}", headers=h, params={"include_deleted": True})
            )
            _check_detail(acc, world, opts, e.id, True, detail)

    # Each object by id.
    objects = world.readable_objects(rd, opts)
    for o in world.objects.values():
        r = client.get(f"/api/v1/objects/{o.id}", headers=h)
        assert r.status_code == (200 if o.id in objects else 404), (
            who,
            "GET object",
            o,
            r.status_code,
        )
        if r.status_code == 200:
            got = _ids(r.json()["attributes"])
            want = world.readable_attributes(rd, opts, object_id=o.id)
            assert got == want, (who, "object attributes", o.id, got, want)

    # Each attribute by id, without and with include_deleted.
    for include_deleted in (False, True):
        allowed = world.readable_attributes(rd, opts, include_deleted)
        for a in world.attributes.values():
            r = client.get(
                f"/api/v1/attributes/{a.id}", headers=h, params={"include_deleted": include_deleted}
            )
            assert r.status_code == (200 if a.id in allowed else 404), (
                who,
                "GET attribute",
                include_deleted,
                a,
                world.events[a.event_id],
                r.status_code,
            )
            if r.status_code == 200:
                body = r.json()
                assert (body["id"], body["deleted"]) == (a.id, a.deleted)
                assert {t["name"] for t in body["tags"]} == world.visible_tag_names(rd, a.tag_ids)

    # The attribute search: paged, streamed, with deleted ones, by tag.
    attributes = world.readable_attributes(rd, opts)
    got = _ids(_pages(client, acc, "/api/v1/search/attributes"))
    assert got == attributes, (who, "GET /search/attributes", got, attributes)
    got = _ids(_ndjson(client, acc, "/api/v1/search/attributes"))
    assert got == attributes, (who, "GET /search/attributes ndjson", got, attributes)
    want = world.readable_attributes(rd, opts, include_deleted=True)
    got = _ids(_ndjson(client, acc, "/api/v1/search/attributes", include_deleted=True))
    assert got == want, (who, "GET /search/attributes ndjson include_deleted", got, want)
    got = _ids(_pages(client, acc, "/api/v1/search/attributes", limit=ALL, tags=spec.search_tag))
    want = world.attributes_tagged(rd, opts, spec.search_tag)
    assert got == want, (who, f"GET /search/attributes?tags={spec.search_tag}", got, want)

    # Sightings and sharing groups.
    got = _ids(_pages(client, acc, "/api/v1/sightings"))
    want = world.readable_sightings(rd, opts)
    assert got == want, (who, "GET /sightings", got, want)
    got = _ids(_pages(client, acc, "/api/v1/sharing-groups", limit=ALL))
    want = world.visible_sharing_groups(rd)
    assert got == want, (who, "GET /sharing-groups", got, want)


def _check_counts(instance: Any, acc: Account, world: ref.World, opts: ref.Options) -> None:
    """The situational picture's count of readable attributes per event (which checks only
    the rows whose own rules can hide them) against the reference."""
    read_opts = ReadOptions(opts.unpublished_private, opts.sighting_policy)
    with instance.db.reading() as s:
        user = s.get(User, acc.user_id)
        assert user is not None
        p = auth.principal_for(user)
        readable = sa.select(Event.id).where(event_condition(p, read_opts))
        got = readable_attribute_counts(s, p, readable)
    want = Counter(
        world.attributes[a].event_id for a in world.readable_attributes(acc.reader, opts)
    )
    assert got == dict(want), (acc.label, "attribute counts per event", got, dict(want))


# ---------------------------------------------------------------- the property


def _run(instance: Any, app: Any, client: Any, spec: WorldSpec, log: Any = None) -> None:
    _reset(instance)
    opts = ref.Options(
        unpublished_private=spec.unpublished_private, sighting_policy=spec.sighting_policy
    )
    configured = get_settings().model_copy(
        update={
            "unpublished_private": opts.unpublished_private,
            "sighting_policy": opts.sighting_policy,
        }
    )
    app.dependency_overrides[settings_dep] = lambda: configured
    try:
        world, accounts = _insert(instance, spec)
        if log is not None:
            log(f"world: {world}")
        for acc in accounts:
            _check_account(client, acc, world, opts, spec)
            _check_counts(instance, acc, world, opts)
    finally:
        app.dependency_overrides.pop(settings_dep, None)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=worlds())
def test_every_read_path_returns_exactly_what_the_rules_allow(
    instance, app, client, spec: WorldSpec
) -> None:
    _run(instance, app, client, spec, log=note)


def _attr(type_: str, obj: int | None = None) -> AttrSpec:
    return AttrSpec(type_, 5, None, False, obj, frozenset(), [])


def test_search_by_attribute_binds_the_rules_to_each_event(instance, app, client) -> None:
    """Found by the property above: in the event search's attribute subquery, the rules'
    own subqueries (event tags, the attribute's object) were not correlated to the event
    being searched but ranged over every event. One tlp:red event anywhere then hid every
    community event from the search, and owning any event opened every object."""
    spec = WorldSpec(
        n_orgs=2,
        users=[(1, "user"), (0, "site_admin")],
        tag_orgs=dict.fromkeys(TAG_NAMES),
        sharing_groups=[],
        events=[
            # Organisation 0's: a tlp:red one kept home, a community one with a domain, and
            # a community one whose only ip-dst sits in an organisation-only object.
            EventSpec(0, 0, 0, None, True, frozenset({"tlp:red"})),
            EventSpec(0, 0, 3, None, True, frozenset(), attributes=[_attr("domain")]),
            EventSpec(
                0,
                0,
                3,
                None,
                True,
                frozenset(),
                objects=[ObjSpec(0, None, False)],
                attributes=[_attr("ip-dst", obj=0)],
            ),
            # Organisation 1 (the reader's) owns an event of its own.
            EventSpec(1, 1, 0, None, True, frozenset()),
        ],
        unpublished_private=False,
        sighting_policy="owner",
        search_type="domain",
        search_tag="tlp:red",
    )
    _run(instance, app, client, spec)
    # Without the tlp:red event (which hid everything), the object rule: the reader owns
    # an event, which must not make organisation 0's organisation-only object readable.
    _run(instance, app, client, replace(spec, events=spec.events[1:], search_type="ip-dst"))
