"""Incident response: alerts and their observables, cases (tasks, logs, attachments,
observables, timeline, shares, templates), SLA policies, on-call rosters, rapid-reaction
teams, assistance requests and deployments, constituencies, notifications and webhooks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column

from shieldwall.clock import now
from shieldwall.db.base import Base, UTCDateTime, ValueText, new_uuid
from shieldwall.intel.models import VALUE_KEY_LEN

ALERT_STATUSES = ("new", "acknowledged", "ignored", "merged")
SEVERITIES = ("low", "medium", "high", "critical")
# TLP 2.0 and PAP, weakest first: an item's marking says how far it may travel.
TLP_LEVELS = ("clear", "green", "amber", "amber+strict", "red")
PAP_LEVELS = ("clear", "green", "amber", "red")
CASE_STATUSES = ("new", "in_progress", "resolved", "closed")
RESOLUTIONS = ("true_positive", "false_positive", "duplicate", "other")
TASK_STATUSES = ("waiting", "in_progress", "completed", "cancelled")
SHARE_PROFILES = ("read_only", "contribute", "full")
URGENCIES = SEVERITIES
ASSISTANCE_STATUSES = ("requested", "approved", "declined", "deployed", "ended", "closed")
CONSTITUENCY_KINDS = ("cidr", "asn", "domain")
TERM_LEN = 100


def _fk(target: str, ondelete: str = "CASCADE", **kw: Any) -> Any:
    return sa.ForeignKey(target, ondelete=ondelete, **kw)


class _Stamped:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)


# ---------------------------------------------------------------- alerts


class Alert(_Stamped, Base):
    """Something to look at: raised by a hunt, sent by a sensor or SIEM, or routed to an
    organisation because intel touches its networks. Unique per organisation by (source,
    source_ref); a repeat counts up instead of adding a row."""

    __tablename__ = "alerts"
    __table_args__ = (
        sa.UniqueConstraint("org_id", "source", "source_ref"),
        sa.Index("ix_alerts_org_id_id", "org_id", "id"),
        sa.Index("ix_alerts_org_id_status_id", "org_id", "status", "id"),
        sa.Index("ix_alerts_org_id_severity_id", "org_id", "severity", "id"),
        sa.Index("ix_alerts_status_ack_due_at", "status", "ack_due_at"),
        sa.Index("ix_alerts_org_id_created_at", "org_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True, default=new_uuid)
    # The organisation the alert belongs to (the sensor's, the sender's, the network owner's).
    org_id: Mapped[int] = mapped_column(_fk("organisations.id"))
    # hunt, siem, sensor, constituency, external...: what kind of thing raised it.
    type: Mapped[str] = mapped_column(sa.String(64), default="external")
    source: Mapped[str] = mapped_column(sa.String(255))
    source_ref: Mapped[str] = mapped_column(sa.String(512))
    sensor_id: Mapped[int | None] = mapped_column(
        _fk("sensors.id", "SET NULL"), index=True, default=None
    )
    sensor_name: Mapped[str] = mapped_column(sa.String(255), default="")
    title: Mapped[str] = mapped_column(sa.Text)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    severity: Mapped[str] = mapped_column(sa.String(16), default="medium")
    tlp: Mapped[str] = mapped_column(sa.String(16), default="amber")
    pap: Mapped[str] = mapped_column(sa.String(16), default="amber")
    tags: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    status: Mapped[str] = mapped_column(sa.String(32), default="new")
    # The intel behind it, when there is some (hunt matches, constituency routing).
    attribute_id: Mapped[int | None] = mapped_column(
        _fk("attributes.id", "SET NULL"), index=True, default=None
    )
    event_id: Mapped[int | None] = mapped_column(
        _fk("events.id", "SET NULL"), index=True, default=None
    )
    observable: Mapped[str] = mapped_column(sa.Text, default="")
    observable_key: Mapped[str] = mapped_column(sa.String(200), default="")
    field: Mapped[str] = mapped_column(sa.String(255), default="")
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    count: Mapped[int] = mapped_column(default=1)
    case_id: Mapped[int | None] = mapped_column(
        _fk("cases.id", "SET NULL"), index=True, default=None
    )
    created_by_id: Mapped[int | None] = mapped_column(_fk("users.id", "SET NULL"), default=None)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    acknowledged_by_id: Mapped[int | None] = mapped_column(
        _fk("users.id", "SET NULL"), default=None
    )
    # SLA: when it must leave "new", and when it was found late.
    ack_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    ack_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class AlertObservable(Base):
    __tablename__ = "alert_observables"
    __table_args__ = (
        sa.UniqueConstraint("alert_id", "type", "value_key"),
        sa.Index("ix_alert_observables_value_key", "value_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(_fk("alerts.id"))
    type: Mapped[str] = mapped_column(sa.String(100))
    value: Mapped[str] = mapped_column(ValueText)
    value_key: Mapped[str] = mapped_column(sa.String(VALUE_KEY_LEN))
    tlp: Mapped[str] = mapped_column(sa.String(16), default="amber")
    ioc: Mapped[bool] = mapped_column(default=False)
    sighted: Mapped[bool] = mapped_column(default=False)
    tags: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    message: Mapped[str] = mapped_column(sa.Text, default="")


# ---------------------------------------------------------------- cases


class CaseTemplate(_Stamped, Base):
    """Prefills for a kind of case: title prefix, severity, markings, tags, tasks and the
    custom fields a case of this kind carries."""

    __tablename__ = "case_templates"
    __table_args__ = (sa.UniqueConstraint("org_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True, default=new_uuid)
    org_id: Mapped[int] = mapped_column(_fk("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(255))
    title_prefix: Mapped[str] = mapped_column(sa.String(255), default="")
    description: Mapped[str] = mapped_column(sa.Text, default="")
    severity: Mapped[str] = mapped_column(sa.String(16), default="medium")
    tlp: Mapped[str] = mapped_column(sa.String(16), default="amber")
    pap: Mapped[str] = mapped_column(sa.String(16), default="amber")
    tags: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    # [{"title", "group", "description"}]
    tasks: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    # [{"name", "type": string|number|boolean|date, "required", "options"}]
    custom_fields: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)


class Case(_Stamped, Base):
    __tablename__ = "cases"
    __table_args__ = (
        sa.UniqueConstraint("org_id", "number"),
        sa.Index("ix_cases_org_id_id", "org_id", "id"),
        sa.Index("ix_cases_org_id_status_id", "org_id", "status", "id"),
        sa.Index("ix_cases_org_id_severity_id", "org_id", "severity", "id"),
        sa.Index("ix_cases_assignee_id_status", "assignee_id", "status"),
        sa.Index("ix_cases_status_ack_due_at", "status", "ack_due_at"),
        sa.Index("ix_cases_status_resolve_due_at", "status", "resolve_due_at"),
        sa.Index("ix_cases_org_id_created_at", "org_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True, default=new_uuid)
    org_id: Mapped[int] = mapped_column(_fk("organisations.id"))
    # Counted per organisation: "case 42 of CERT-EX".
    number: Mapped[int] = mapped_column()
    title: Mapped[str] = mapped_column(sa.Text)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    severity: Mapped[str] = mapped_column(sa.String(16), default="medium")
    tlp: Mapped[str] = mapped_column(sa.String(16), default="amber")
    pap: Mapped[str] = mapped_column(sa.String(16), default="amber")
    status: Mapped[str] = mapped_column(sa.String(32), default="new")
    resolution: Mapped[str | None] = mapped_column(sa.String(32), default=None)
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    duplicate_of_id: Mapped[int | None] = mapped_column(_fk("cases.id", "SET NULL"), default=None)
    assignee_id: Mapped[int | None] = mapped_column(_fk("users.id", "SET NULL"), default=None)
    template_id: Mapped[int | None] = mapped_column(
        _fk("case_templates.id", "SET NULL"), default=None
    )
    tags: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    # MITRE ATT&CK techniques: [{"id": "T1566.001", "name", "cluster_uuid"}]
    techniques: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    created_by_id: Mapped[int | None] = mapped_column(_fk("users.id", "SET NULL"), default=None)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    ack_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    resolve_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    ack_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    resolve_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class CaseTerm(Base):
    """The words of a case's title and its tags ("tag:" and the name), lower-cased: title
    and tag searches find their cases through this index instead of reading every title."""

    __tablename__ = "case_terms"
    __table_args__ = (sa.Index("ix_case_terms_term_case_id", "term", "case_id"),)

    case_id: Mapped[int] = mapped_column(_fk("cases.id"), primary_key=True)
    # C collation on PostgreSQL: a prefix is a range of the index, as on SQLite.
    term: Mapped[str] = mapped_column(
        sa.String(TERM_LEN).with_variant(postgresql.VARCHAR(TERM_LEN, collation="C"), "postgresql"),
        primary_key=True,
    )


class CaseShare(Base):
    """A case shared with another organisation, with a profile: read_only, contribute (tasks
    and logs) or full."""

    __tablename__ = "case_shares"
    __table_args__ = (
        sa.UniqueConstraint("case_id", "org_id"),
        sa.Index("ix_case_shares_org_id_case_id", "org_id", "case_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(_fk("cases.id"))
    org_id: Mapped[int] = mapped_column(_fk("organisations.id"))
    profile: Mapped[str] = mapped_column(sa.String(16), default="read_only")
    created_by_id: Mapped[int | None] = mapped_column(_fk("users.id", "SET NULL"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class CaseTask(_Stamped, Base):
    __tablename__ = "case_tasks"
    __table_args__ = (sa.Index("ix_case_tasks_case_id_order", "case_id", "order"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True, default=new_uuid)
    case_id: Mapped[int] = mapped_column(_fk("cases.id"))
    title: Mapped[str] = mapped_column(sa.Text)
    group: Mapped[str] = mapped_column(sa.String(255), default="default")
    description: Mapped[str] = mapped_column(sa.Text, default="")
    status: Mapped[str] = mapped_column(sa.String(32), default="waiting")
    assignee_id: Mapped[int | None] = mapped_column(
        _fk("users.id", "SET NULL"), index=True, default=None
    )
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    order: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The organisation whose user added it: a shared case's contributors are told apart.
    org_id: Mapped[int] = mapped_column(_fk("organisations.id"))


class CaseAttachment(Base):
    """A file on a case (through a task log): kept in the database with its size and
    SHA-256, within SHIELDWALL_ATTACHMENT_MAX_MB."""

    __tablename__ = "case_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True, default=new_uuid)
    case_id: Mapped[int] = mapped_column(_fk("cases.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(255), default="application/octet-stream")
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    data: Mapped[bytes] = mapped_column(sa.LargeBinary, deferred=True)
    created_by_id: Mapped[int | None] = mapped_column(_fk("users.id", "SET NULL"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class TaskLog(Base):
    __tablename__ = "task_logs"
    __table_args__ = (sa.Index("ix_task_logs_task_id_id", "task_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True, default=new_uuid)
    task_id: Mapped[int] = mapped_column(_fk("case_tasks.id"))
    case_id: Mapped[int] = mapped_column(_fk("cases.id"), index=True)
    message: Mapped[str] = mapped_column(sa.Text)
    author_id: Mapped[int | None] = mapped_column(_fk("users.id", "SET NULL"), default=None)
    org_id: Mapped[int] = mapped_column(_fk("organisations.id"))
    attachment_id: Mapped[int | None] = mapped_column(
        _fk("case_attachments.id", "SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class CaseObservable(Base):
    """An observable of a case; linked to the intel attribute it became or matched."""

    __tablename__ = "case_observables"
    __table_args__ = (
        sa.UniqueConstraint("case_id", "type", "value_key"),
        sa.Index("ix_case_observables_value_key", "value_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True, default=new_uuid)
    case_id: Mapped[int] = mapped_column(_fk("cases.id"))
    type: Mapped[str] = mapped_column(sa.String(100))
    value: Mapped[str] = mapped_column(ValueText)
    value_key: Mapped[str] = mapped_column(sa.String(VALUE_KEY_LEN))
    tlp: Mapped[str] = mapped_column(sa.String(16), default="amber")
    ioc: Mapped[bool] = mapped_column(default=False)
    sighted: Mapped[bool] = mapped_column(default=False)
    tags: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    message: Mapped[str] = mapped_column(sa.Text, default="")
    attribute_id: Mapped[int | None] = mapped_column(
        _fk("attributes.id", "SET NULL"), index=True, default=None
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class CaseTimeline(Base):
    """One line a case action: the timeline is built from every change, as it happens."""

    __tablename__ = "case_timeline"
    __table_args__ = (sa.Index("ix_case_timeline_case_id_id", "case_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(_fk("cases.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    kind: Mapped[str] = mapped_column(sa.String(64))
    summary: Mapped[str] = mapped_column(sa.Text)
    user_id: Mapped[int | None] = mapped_column(_fk("users.id", "SET NULL"), default=None)
    org_id: Mapped[int | None] = mapped_column(_fk("organisations.id", "SET NULL"), default=None)
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)


# ---------------------------------------------------------------- round-the-clock handling


class SlaPolicy(Base):
    """Time to acknowledge and to resolve, per target (alert or case) and severity; an
    organisation's own policy wins over the instance's (org_id NULL)."""

    __tablename__ = "sla_policies"
    __table_args__ = (sa.UniqueConstraint("org_id", "target", "severity"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int | None] = mapped_column(_fk("organisations.id"), default=None)
    target: Mapped[str] = mapped_column(sa.String(16))
    severity: Mapped[str] = mapped_column(sa.String(16))
    acknowledge_minutes: Mapped[int | None] = mapped_column(default=None)
    resolve_minutes: Mapped[int | None] = mapped_column(default=None)


class Roster(_Stamped, Base):
    """An on-call roster of an organisation: who answers, shift by shift."""

    __tablename__ = "rosters"
    __table_args__ = (sa.UniqueConstraint("org_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True, default=new_uuid)
    org_id: Mapped[int] = mapped_column(_fk("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(255))
    description: Mapped[str] = mapped_column(sa.Text, default="")


class RosterShift(Base):
    __tablename__ = "roster_shifts"
    __table_args__ = (sa.Index("ix_roster_shifts_roster_id_starts_at", "roster_id", "starts_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    roster_id: Mapped[int] = mapped_column(_fk("rosters.id"))
    user_id: Mapped[int] = mapped_column(_fk("users.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    position: Mapped[str] = mapped_column(sa.String(32), default="primary")


class Team(_Stamped, Base):
    """A rapid-reaction team: members with skills, ready to deploy to a member in need."""

    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True, default=new_uuid)
    org_id: Mapped[int] = mapped_column(_fk("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(255), unique=True)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    available: Mapped[bool] = mapped_column(default=True)


class TeamMember(Base):
    __tablename__ = "team_members"
    __table_args__ = (sa.UniqueConstraint("team_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(_fk("teams.id"))
    user_id: Mapped[int] = mapped_column(_fk("users.id"), index=True)
    skills: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    lead: Mapped[bool] = mapped_column(default=False)
    available: Mapped[bool] = mapped_column(default=True)


class AssistanceRequest(_Stamped, Base):
    """A member asking the alliance for help on a case: approved or declined by a
    coordinator, answered by a deployed team, closed with lessons learned."""

    __tablename__ = "assistance_requests"
    __table_args__ = (sa.Index("ix_assistance_requests_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True, default=new_uuid)
    org_id: Mapped[int] = mapped_column(_fk("organisations.id"), index=True)
    case_id: Mapped[int] = mapped_column(_fk("cases.id"), index=True)
    title: Mapped[str] = mapped_column(sa.Text)
    needed: Mapped[str] = mapped_column(sa.Text)
    skills: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    urgency: Mapped[str] = mapped_column(sa.String(16), default="high")
    affected_networks: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    # [{"name", "email", "phone", "role"}]
    contacts: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    status: Mapped[str] = mapped_column(sa.String(16), default="requested")
    requested_by_id: Mapped[int | None] = mapped_column(_fk("users.id", "SET NULL"), default=None)
    decided_by_id: Mapped[int | None] = mapped_column(_fk("users.id", "SET NULL"), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    decision_reason: Mapped[str] = mapped_column(sa.Text, default="")
    closed_by_id: Mapped[int | None] = mapped_column(_fk("users.id", "SET NULL"), default=None)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    lessons_learned: Mapped[str] = mapped_column(sa.Text, default="")


class Deployment(Base):
    """A team deployed on an assistance request: its members read and contribute to the
    case from starts_at until the deployment ends (ends_at, or ended_at when ended early)."""

    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True, default=new_uuid)
    request_id: Mapped[int] = mapped_column(_fk("assistance_requests.id"), index=True)
    team_id: Mapped[int] = mapped_column(_fk("teams.id"), index=True)
    case_id: Mapped[int] = mapped_column(_fk("cases.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Set once the end (planned or early) has been announced and written to the timeline.
    end_noted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_by_id: Mapped[int | None] = mapped_column(_fk("users.id", "SET NULL"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class DeploymentMember(Base):
    """Who deployed: fixed when the team deploys, so later roster changes grant nothing."""

    __tablename__ = "deployment_members"
    __table_args__ = (
        sa.UniqueConstraint("deployment_id", "user_id"),
        sa.Index("ix_deployment_members_user_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(_fk("deployments.id"))
    user_id: Mapped[int] = mapped_column(_fk("users.id"))


class DeploymentLog(Base):
    __tablename__ = "deployment_logs"
    __table_args__ = (sa.Index("ix_deployment_logs_deployment_id_id", "deployment_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(_fk("deployments.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    author_id: Mapped[int | None] = mapped_column(_fk("users.id", "SET NULL"), default=None)
    message: Mapped[str] = mapped_column(sa.Text)


# ---------------------------------------------------------------- constituency


class ConstituencyEntry(Base):
    """A network an organisation answers for: a CIDR block, an AS number or a domain."""

    __tablename__ = "constituency_entries"
    __table_args__ = (sa.UniqueConstraint("org_id", "kind", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(_fk("organisations.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    value: Mapped[str] = mapped_column(sa.String(255))
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class JobMark(Base):
    """How far a background pass has come (constituency routing: events published up to
    `at`), shared by every process."""

    __tablename__ = "job_marks"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_id: Mapped[int] = mapped_column(default=0)


# ---------------------------------------------------------------- notifications


class Notification(Base):
    """One message to one user, in the user's inbox and, when subscribed, by e-mail."""

    __tablename__ = "notifications"
    __table_args__ = (
        sa.Index("ix_notifications_user_id_id", "user_id", "id"),
        sa.Index("ix_notifications_mail_state_id", "mail_state", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(_fk("users.id"))
    topic: Mapped[str] = mapped_column(sa.String(64))
    title: Mapped[str] = mapped_column(sa.Text)
    body: Mapped[str] = mapped_column(sa.Text, default="")
    link: Mapped[str] = mapped_column(sa.String(512), default="")
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # "" (no mail), "immediate", "hourly", "daily" (waiting for its digest), "sent", "failed"
    mail_state: Mapped[str] = mapped_column(sa.String(16), default="")
    mailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class Subscription(Base):
    """A user's choice to get a topic's notifications by e-mail, at once or as a digest."""

    __tablename__ = "subscriptions"
    __table_args__ = (sa.UniqueConstraint("user_id", "topic"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(_fk("users.id"))
    # A topic (case.shared) or a prefix pattern (case.*, *).
    topic: Mapped[str] = mapped_column(sa.String(64))
    email: Mapped[bool] = mapped_column(default=True)
    digest: Mapped[str] = mapped_column(sa.String(16), default="immediate")


class Webhook(_Stamped, Base):
    """An organisation's HTTP endpoint for notifications, signed with HMAC-SHA256."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True, default=new_uuid)
    org_id: Mapped[int] = mapped_column(_fk("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(255))
    url: Mapped[str] = mapped_column(sa.String(2048))
    # The signing secret, encrypted with a key derived from the instance secret.
    secret_enc: Mapped[str] = mapped_column(sa.Text)
    topics: Mapped[list[str]] = mapped_column(sa.JSON, default=lambda: ["*"])
    enabled: Mapped[bool] = mapped_column(default=True)


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.Index("ix_webhook_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
        sa.Index("ix_webhook_deliveries_webhook_id_id", "webhook_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True, default=new_uuid)
    webhook_id: Mapped[int] = mapped_column(_fk("webhooks.id"))
    topic: Mapped[str] = mapped_column(sa.String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    # pending, delivered, failed (gave up after the last retry)
    state: Mapped[str] = mapped_column(sa.String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    last_status: Mapped[int | None] = mapped_column(default=None)
    last_error: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
