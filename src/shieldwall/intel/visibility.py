"""THE access rules: which events, attributes, objects, sightings, tags and sharing groups a
principal may read, and which alerts, cases and assistance requests of incident response.
Every read path builds its query with these conditions.

The rules follow MISP (distribution 0 org, 1 community, 2 connected, 3 all, 4 sharing group,
5 inherit) plus the TLP guard: an event or attribute tagged tlp:red is readable outside its
owner organisation only through a sharing group, one tagged tlp:amber+strict never.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import QueryableAttribute, aliased
from sqlalchemy.sql.elements import ColumnElement

from shieldwall.auth.models import Organisation
from shieldwall.auth.permissions import Permission
from shieldwall.intel.collab_models import EventReport
from shieldwall.intel.models import (
    Attribute,
    AttributeTag,
    Event,
    EventTag,
    MispObject,
    SharingGroup,
    SharingGroupOrg,
    SharingGroupServer,
    Sighting,
    Tag,
    unplain_sql,
)
from shieldwall.response.models import (
    Alert,
    AssistanceRequest,
    Case,
    CaseShare,
    Deployment,
    DeploymentMember,
)

COMMUNITY_DISTRIBUTIONS = (1, 2, 3)
TLP_RED = "tlp:red"
TLP_AMBER_STRICT = "tlp:amber+strict"
# The markings that keep an event or attribute from the community (MISP's distribution alone
# would share it).
GUARDED_MARKINGS = (TLP_RED, TLP_AMBER_STRICT)


@dataclass(frozen=True)
class Principal:
    """Whoever reads: a user (with organisation and role), a sensor key or a peer instance."""

    org_id: int
    user_id: int | None = None
    permissions: frozenset[str] = field(default_factory=frozenset)
    kind: str = "user"
    email: str = ""
    api_key_id: int | None = None

    @property
    def is_site_admin(self) -> bool:
        return Permission.SITE_ADMIN in self.permissions

    def can(self, permission: Permission) -> bool:
        return self.is_site_admin or permission in self.permissions


@dataclass(frozen=True)
class ReadOptions:
    unpublished_private: bool = False
    sighting_policy: str = "owner"


def tlp_level(tag_names: list[str] | set[str]) -> str | None:
    """The strictest guarded TLP marking among tag names, or None."""
    lowered = {t.strip().lower() for t in tag_names}
    if TLP_AMBER_STRICT in lowered:
        return TLP_AMBER_STRICT
    if TLP_RED in lowered:
        return TLP_RED
    return None


def member_sharing_groups(org_id: int) -> sa.Select[tuple[int]]:
    """Ids of sharing groups the organisation belongs to (directly, or through this
    instance's all-organisations entry)."""
    direct = sa.select(SharingGroupOrg.sharing_group_id).where(SharingGroupOrg.org_id == org_id)
    all_local = sa.select(SharingGroupServer.sharing_group_id).where(
        SharingGroupServer.server_url.is_(None), SharingGroupServer.all_orgs.is_(True)
    )
    return sa.union(direct, all_local)  # type: ignore[return-value]


def _event_tagged(names: tuple[str, ...]) -> ColumnElement[bool]:
    # The few events carrying a guarded marking, listed once a query (an index probe or a
    # hash lookup a row), not searched again for every row.
    guarded = (
        sa.select(EventTag.event_id)
        .join(Tag, Tag.id == EventTag.tag_id)
        .where(sa.func.lower(Tag.name).in_(names))
    )
    return Event.id.in_(guarded)


def _attribute_tagged(names: tuple[str, ...]) -> ColumnElement[bool]:
    guarded = (
        sa.select(AttributeTag.attribute_id)
        .join(Tag, Tag.id == AttributeTag.tag_id)
        .where(sa.func.lower(Tag.name).in_(names))
    )
    return Attribute.id.in_(guarded)


def event_condition(p: Principal, opts: ReadOptions) -> ColumnElement[bool]:
    """Events the principal may read (Event must be in the FROM clause)."""
    if p.is_site_admin:
        return sa.true()
    sgs = member_sharing_groups(p.org_id).scalar_subquery()
    shared = sa.or_(
        sa.and_(
            Event.distribution.in_(COMMUNITY_DISTRIBUTIONS),
            ~_event_tagged(GUARDED_MARKINGS),
        ),
        sa.and_(
            Event.distribution == 4,
            Event.sharing_group_id.in_(sgs),
            ~_event_tagged((TLP_AMBER_STRICT,)),
        ),
    )
    if opts.unpublished_private:
        shared = sa.and_(Event.published.is_(True), shared)
    return sa.or_(Event.org_id == p.org_id, Event.orgc_id == p.org_id, shared)


def _own_distribution(
    p: Principal,
    distribution: QueryableAttribute[int],
    sharing_group_id: QueryableAttribute[int | None],
) -> ColumnElement[bool]:
    sgs = member_sharing_groups(p.org_id).scalar_subquery()
    return sa.or_(
        distribution.in_((1, 2, 3, 5)),
        sa.and_(distribution == 4, sharing_group_id.in_(sgs)),
    )


def object_condition(
    p: Principal, opts: ReadOptions, *, include_deleted: bool = False
) -> ColumnElement[bool]:
    """Objects the principal may read (MispObject and its Event in the FROM clause)."""
    conds: list[ColumnElement[bool]] = []
    if not include_deleted:
        conds.append(MispObject.deleted.is_(False))
    if p.is_site_admin:
        return sa.and_(sa.true(), *conds)
    deleted_ok = sa.or_(MispObject.deleted.is_(False), Event.org_id == p.org_id)
    return sa.and_(
        event_condition(p, opts),
        deleted_ok,
        sa.or_(
            Event.org_id == p.org_id,
            _own_distribution(p, MispObject.distribution, MispObject.sharing_group_id),
        ),
        *conds,
    )


def attribute_condition(
    p: Principal, opts: ReadOptions, *, include_deleted: bool = False
) -> ColumnElement[bool]:
    """Attributes the principal may read (Attribute and its Event in the FROM clause)."""
    return sa.and_(
        event_condition(p, opts), attribute_in_readable_event(p, include_deleted=include_deleted)
    )


def attribute_in_readable_event(
    p: Principal, *, include_deleted: bool = False
) -> ColumnElement[bool]:
    """The attribute's own part of attribute_condition: which attributes of an event the
    principal may read, the event itself being readable (checked apart, once an event, by
    queries that count many attributes of a few events)."""
    conds: list[ColumnElement[bool]] = []
    live_object = sa.exists(
        sa.select(1)
        .where(MispObject.id == Attribute.object_id, MispObject.deleted.is_(False))
        .correlate_except(MispObject)
    )
    if not include_deleted:
        conds.append(Attribute.deleted.is_(False))
        conds.append(sa.or_(Attribute.object_id.is_(None), live_object))
    if p.is_site_admin:
        return sa.and_(sa.true(), *conds)
    own = Event.org_id == p.org_id
    readable_object = sa.exists(
        sa.select(1)
        .where(
            MispObject.id == Attribute.object_id,
            sa.or_(MispObject.deleted.is_(False), own),
            sa.or_(own, _own_distribution(p, MispObject.distribution, MispObject.sharing_group_id)),
        )
        .correlate_except(MispObject)
    )
    tlp_ok = sa.or_(
        ~_attribute_tagged(GUARDED_MARKINGS),
        sa.and_(
            ~_attribute_tagged((TLP_AMBER_STRICT,)),
            sa.or_(
                Attribute.distribution == 4,
                sa.and_(Attribute.distribution == 5, Event.distribution == 4),
            ),
        ),
    )
    return sa.and_(
        sa.or_(Attribute.deleted.is_(False), own),
        sa.or_(Attribute.object_id.is_(None), readable_object),
        sa.or_(
            own,
            sa.and_(
                _own_distribution(p, Attribute.distribution, Attribute.sharing_group_id), tlp_ok
            ),
        ),
        *conds,
    )


def attributes_that_may_be_hidden() -> tuple[sa.TextClause, ColumnElement[bool]]:
    """Two conditions, disjoint, that together hold every attribute which
    attribute_in_readable_event can hide in a readable event: an attribute that is plain
    (not deleted, in no object, distribution 5 = as its event) is hidden only by a guarded
    TLP tag of its own. The first is the condition of ix_attributes_event_unplain, so a
    query over many events that checks just these rows reads that index (one a query)."""
    unplain = unplain_sql("attributes")
    return (
        sa.text(f"({unplain})"),
        sa.and_(sa.text(f"NOT ({unplain})"), _attribute_tagged(GUARDED_MARKINGS)),
    )


def report_condition(
    p: Principal, opts: ReadOptions, *, include_deleted: bool = False
) -> ColumnElement[bool]:
    """Event reports the principal may read (EventReport and its Event in the FROM clause):
    as an attribute without tags, by the report's own distribution (5 = as the event) when
    the event is readable, or always for the event's owner organisation. Soft-deleted ones
    only when asked for, and then to the owner organisation only."""
    conds: list[ColumnElement[bool]] = []
    if not include_deleted:
        conds.append(EventReport.deleted.is_(False))
    if p.is_site_admin:
        return sa.and_(sa.true(), *conds)
    own = Event.org_id == p.org_id
    return sa.and_(
        event_condition(p, opts),
        sa.or_(EventReport.deleted.is_(False), own),
        sa.or_(own, _own_distribution(p, EventReport.distribution, EventReport.sharing_group_id)),
        *conds,
    )


def sighting_condition(p: Principal, opts: ReadOptions) -> ColumnElement[bool]:
    """Sightings the principal may read (Sighting, Attribute and Event in the FROM clause):
    of an attribute the principal may read, by the sighting policy (ReadOptions)."""
    base = attribute_condition(p, opts)
    if p.is_site_admin or opts.sighting_policy == "event":
        return base
    mine = [Sighting.org_id == p.org_id, Event.org_id == p.org_id]
    if opts.sighting_policy == "reporters":
        # An organisation that reported a sighting on the event reads all of the event's.
        other = aliased(Sighting)
        mine.append(
            sa.exists(
                sa.select(1).where(other.event_id == Sighting.event_id, other.org_id == p.org_id)
            )
        )
    elif opts.sighting_policy == "host":
        # The host organisation: this instance's first local organisation.
        host = (
            sa.select(sa.func.min(Organisation.id))
            .where(Organisation.local.is_(True))
            .scalar_subquery()
        )
        mine.append(Sighting.org_id == host)
    return sa.and_(base, sa.or_(*mine))


def tag_condition(p: Principal) -> ColumnElement[bool]:
    """Tags the principal may see and use (Tag in the FROM clause)."""
    if p.is_site_admin:
        return sa.true()
    return sa.or_(Tag.org_id.is_(None), Tag.org_id == p.org_id)


def sharing_group_condition(p: Principal) -> ColumnElement[bool]:
    """Sharing groups visible to the principal: members and the creator."""
    if p.is_site_admin:
        return sa.true()
    return sa.or_(
        SharingGroup.org_id == p.org_id,
        SharingGroup.id.in_(member_sharing_groups(p.org_id).scalar_subquery()),
    )


def can_edit_event(p: Principal, event: Event) -> bool:
    """MISP's rule: site admins; the owner org with modify_org; the creating user with modify."""
    if p.is_site_admin:
        return True
    if event.org_id != p.org_id:
        return False
    if Permission.EVENT_MODIFY_ORG in p.permissions:
        return True
    return Permission.EVENT_MODIFY in p.permissions and event.user_id == p.user_id


# ---------------------------------------------------------------- incident response
#
# Alerts belong to one organisation. A case is read by its organisation, by the
# organisations it is shared with (profile read_only, contribute or full) and, while a
# deployment lasts, by the members of the team deployed on it (contribute). What a reader
# may do is the lesser of that right and the reader's role: without response:case:manage,
# read only. Site admins read everything.

CASE_RIGHTS = ("none", "read_only", "contribute", "full")


def alert_condition(p: Principal) -> ColumnElement[bool]:
    if p.is_site_admin:
        return sa.true()
    return Alert.org_id == p.org_id


def deployed_case_ids(user_id: int, at: datetime) -> sa.Select[Any]:
    """Cases the user is on through a deployment running at `at`."""
    return (
        sa.select(Deployment.case_id)
        .join(DeploymentMember, DeploymentMember.deployment_id == Deployment.id)
        .where(
            DeploymentMember.user_id == user_id,
            Deployment.starts_at <= at,
            sa.func.coalesce(Deployment.ended_at, Deployment.ends_at) > at,
        )
    )


def case_branches(p: Principal, at: datetime) -> list[ColumnElement[bool]]:
    """The ways a principal reads cases at `at`, one condition each (their OR is
    case_condition): its organisation's, those shared with it, those its running
    deployments are on. Lists run one query a branch, so each walks its own index."""
    if p.is_site_admin:
        return [sa.true()]
    shared = sa.select(CaseShare.case_id).where(CaseShare.org_id == p.org_id)
    conditions = [Case.org_id == p.org_id, Case.id.in_(shared)]
    if p.user_id is not None and p.kind == "user":
        conditions.append(Case.id.in_(deployed_case_ids(p.user_id, at)))
    return conditions


def case_condition(p: Principal, at: datetime) -> ColumnElement[bool]:
    """Cases the principal may read at `at` (Case must be in the FROM clause)."""
    branches = case_branches(p, at)
    return branches[0] if len(branches) == 1 else sa.or_(*branches)


def case_right(p: Principal, case: Case, share_profile: str | None, deployed: bool) -> str:
    """What the principal may do on a readable case: none, read_only, contribute (tasks,
    logs, observables) or full (also the case's own fields and status). Sharing the case
    and requesting assistance stay with its organisation."""
    if p.is_site_admin or case.org_id == p.org_id:
        granted = "full"
    else:
        granted = "none"
        if share_profile is not None:
            granted = share_profile
        if deployed and CASE_RIGHTS.index("contribute") > CASE_RIGHTS.index(granted):
            granted = "contribute"
    if granted == "none":
        return granted
    if not p.can(Permission.CASE_MANAGE):
        return "read_only"
    return granted


def assistance_condition(p: Principal, at: datetime) -> ColumnElement[bool]:
    """Assistance requests: the requesting organisation's; every one for coordinators; the
    ones a deployment the reader is on answers (planned, running or over: the team prepares
    before and reports after; the case itself only while it runs)."""
    if p.is_site_admin or p.can(Permission.ASSISTANCE_COORDINATE):
        return sa.true()
    conditions = [AssistanceRequest.org_id == p.org_id]
    if p.user_id is not None and p.kind == "user":
        deployed = (
            sa.select(Deployment.request_id)
            .join(DeploymentMember, DeploymentMember.deployment_id == Deployment.id)
            .where(DeploymentMember.user_id == p.user_id)
        )
        conditions.append(AssistanceRequest.id.in_(deployed))
    return sa.or_(*conditions)
