"""Input shapes of incident response: what the API and the CLI accept, checked field by
field (the errors name the field)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

Severity = Literal["low", "medium", "high", "critical"]
Tlp = Literal["clear", "green", "amber", "amber+strict", "red"]
Pap = Literal["clear", "green", "amber", "red"]
CaseStatus = Literal["new", "in_progress", "resolved", "closed"]
Resolution = Literal["true_positive", "false_positive", "duplicate", "other"]
TaskStatus = Literal["waiting", "in_progress", "completed", "cancelled"]
ShareProfile = Literal["read_only", "contribute", "full"]
AlertStatus = Literal["new", "acknowledged", "ignored", "merged"]
Digest = Literal["immediate", "hourly", "daily"]


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("a time needs its zone (e.g. 2026-12-01T08:00:00Z)")
    return value


When = Annotated[datetime, AfterValidator(_aware)]
Short = Annotated[str, Field(min_length=1, max_length=255)]
Text = Annotated[str, Field(max_length=65535)]
Tags = Annotated[list[Annotated[str, Field(min_length=1, max_length=255)]], Field(max_length=200)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ObservableIn(_In):
    """An observable: a MISP attribute type and its value (checked and normalised as an
    attribute's would be)."""

    type: Short
    value: Annotated[str, Field(min_length=1, max_length=65535)]
    tlp: Tlp = "amber"
    ioc: bool = False
    sighted: bool = False
    tags: Tags = Field(default_factory=list)
    message: Text = ""


class AlertIn(_In):
    """An alert from a sensor, a SIEM or a script. (source, source_ref) is its identity
    within the organisation: sending it again counts a repeat."""

    type: Short = "external"
    source: Short
    source_ref: Annotated[str, Field(min_length=1, max_length=512)]
    title: Annotated[str, Field(min_length=1, max_length=1000)]
    description: Text = ""
    severity: Severity = "medium"
    tlp: Tlp = "amber"
    pap: Pap = "amber"
    tags: Tags = Field(default_factory=list)
    date: When | None = None
    observables: Annotated[list[ObservableIn], Field(max_length=1000)] = Field(default_factory=list)


class AlertUpdate(_In):
    status: AlertStatus | None = None
    severity: Severity | None = None
    tlp: Tlp | None = None
    pap: Pap | None = None
    tags: Tags | None = None
    title: Annotated[str, Field(min_length=1, max_length=1000)] | None = None
    description: Text | None = None


class AlertBulk(_In):
    """One change to many alerts at once; each alert is checked, and all change or none."""

    ids: Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=1, max_length=1000)]
    status: Literal["new", "acknowledged", "ignored"] | None = None
    severity: Severity | None = None
    add_tags: Tags = Field(default_factory=list)


class CustomFieldDef(_In):
    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")]
    type: Literal["string", "number", "boolean", "date"] = "string"
    required: bool = False
    options: Annotated[list[str], Field(max_length=100)] = Field(default_factory=list)
    description: Text = ""


class TemplateTaskIn(_In):
    title: Annotated[str, Field(min_length=1, max_length=1000)]
    group: Short = "default"
    description: Text = ""


class TemplateIn(_In):
    name: Short
    title_prefix: Annotated[str, Field(max_length=255)] = ""
    description: Text = ""
    severity: Severity = "medium"
    tlp: Tlp = "amber"
    pap: Pap = "amber"
    tags: Tags = Field(default_factory=list)
    tasks: Annotated[list[TemplateTaskIn], Field(max_length=200)] = Field(default_factory=list)
    custom_fields: Annotated[list[CustomFieldDef], Field(max_length=100)] = Field(
        default_factory=list
    )


class TemplateUpdate(_In):
    name: Short | None = None
    title_prefix: Annotated[str, Field(max_length=255)] | None = None
    description: Text | None = None
    severity: Severity | None = None
    tlp: Tlp | None = None
    pap: Pap | None = None
    tags: Tags | None = None
    tasks: Annotated[list[TemplateTaskIn], Field(max_length=200)] | None = None
    custom_fields: Annotated[list[CustomFieldDef], Field(max_length=100)] | None = None


class CaseIn(_In):
    """A case by hand, from a template (its name or id), and/or from alerts (merged in)."""

    title: Annotated[str, Field(min_length=1, max_length=1000)] | None = None
    description: Text | None = None
    severity: Severity | None = None
    tlp: Tlp | None = None
    pap: Pap | None = None
    tags: Tags | None = None
    template: Short | None = None
    assignee: Short | None = None
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    techniques: Annotated[list[Short], Field(max_length=200)] = Field(default_factory=list)
    alerts: Annotated[list[Annotated[int, Field(ge=1)]], Field(max_length=1000)] = Field(
        default_factory=list
    )
    observables: Annotated[list[ObservableIn], Field(max_length=1000)] = Field(default_factory=list)


class CaseUpdate(_In):
    title: Annotated[str, Field(min_length=1, max_length=1000)] | None = None
    description: Text | None = None
    severity: Severity | None = None
    tlp: Tlp | None = None
    pap: Pap | None = None
    tags: Tags | None = None
    status: CaseStatus | None = None
    resolution: Resolution | None = None
    summary: Text | None = None
    duplicate_of: Annotated[int, Field(ge=1)] | None = None
    # "" unassigns
    assignee: Annotated[str, Field(max_length=255)] | None = None
    custom_fields: dict[str, Any] | None = None
    techniques: Annotated[list[Short], Field(max_length=200)] | None = None


class MergeIn(_In):
    alerts: Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=1, max_length=1000)]


class TaskIn(_In):
    title: Annotated[str, Field(min_length=1, max_length=1000)]
    group: Short = "default"
    description: Text = ""
    assignee: Short | None = None
    due_at: When | None = None
    order: Annotated[int, Field(ge=0, le=1_000_000)] | None = None


class TaskUpdate(_In):
    title: Annotated[str, Field(min_length=1, max_length=1000)] | None = None
    group: Short | None = None
    description: Text | None = None
    status: TaskStatus | None = None
    assignee: Annotated[str, Field(max_length=255)] | None = None
    due_at: When | None = None
    order: Annotated[int, Field(ge=0, le=1_000_000)] | None = None


class AttachmentIn(_In):
    name: Short
    content_type: Short = "application/octet-stream"
    # base64
    data: str


class TaskLogIn(_In):
    message: Annotated[str, Field(min_length=1, max_length=1_000_000)]
    attachment: AttachmentIn | None = None


class ShareIn(_In):
    org: Short
    profile: ShareProfile = "read_only"


class PromoteIn(_In):
    """Observables of a case into intel: a new event (info, distribution) or an existing
    one the caller may edit (event)."""

    observables: Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=1, max_length=10000)]
    event: Short | None = None
    info: Annotated[str, Field(min_length=1, max_length=65535)] | None = None
    distribution: Annotated[int, Field(ge=0, le=4)] = 0
    sharing_group_id: Annotated[int, Field(ge=1)] | None = None
    threat_level_id: Annotated[int, Field(ge=1, le=4)] = 2
    publish: bool = False


class SlaPolicyIn(_In):
    target: Literal["alert", "case"]
    severity: Severity
    acknowledge_minutes: Annotated[int, Field(ge=1, le=525_600)] | None = None
    resolve_minutes: Annotated[int, Field(ge=1, le=525_600)] | None = None
    # Site admins set the instance's default with instance=true.
    instance: bool = False


class RosterIn(_In):
    name: Short
    description: Text = ""


class ShiftIn(_In):
    user: Short
    starts_at: When
    ends_at: When
    position: Literal["primary", "secondary", "backup"] = "primary"


class TeamIn(_In):
    name: Short
    description: Text = ""
    available: bool = True


class TeamUpdate(_In):
    name: Short | None = None
    description: Text | None = None
    available: bool | None = None


class TeamMemberIn(_In):
    user: Short
    skills: Tags = Field(default_factory=list)
    lead: bool = False
    available: bool = True


class ContactIn(_In):
    name: Short
    email: Annotated[str, Field(max_length=255)] = ""
    phone: Annotated[str, Field(max_length=64)] = ""
    role: Annotated[str, Field(max_length=255)] = ""


class AssistanceIn(_In):
    case: Short
    title: Annotated[str, Field(min_length=1, max_length=1000)]
    needed: Annotated[str, Field(min_length=1, max_length=65535)]
    skills: Tags = Field(default_factory=list)
    urgency: Severity = "high"
    affected_networks: Annotated[list[Short], Field(max_length=1000)] = Field(default_factory=list)
    contacts: Annotated[list[ContactIn], Field(min_length=1, max_length=50)]


class DecisionIn(_In):
    approve: bool
    reason: Text = ""


class DeployIn(_In):
    team: Short
    starts_at: When | None = None
    # How long the team's access to the case lasts unless ended earlier.
    hours: Annotated[float, Field(gt=0, le=24 * 90)] = 72.0
    # Members by e-mail or id; every available member of the team when empty.
    members: Annotated[list[Short], Field(max_length=200)] = Field(default_factory=list)


class LogIn(_In):
    message: Annotated[str, Field(min_length=1, max_length=65535)]


class CloseIn(_In):
    lessons_learned: Annotated[str, Field(min_length=1, max_length=1_000_000)]


class ConstituencyIn(_In):
    kind: Literal["cidr", "asn", "domain"]
    value: Short
    comment: Text = ""
    # Site admins register another organisation's networks.
    org: Short | None = None


class WebhookIn(_In):
    name: Short
    url: Annotated[str, Field(min_length=1, max_length=2048)]
    topics: Annotated[list[Short], Field(min_length=1, max_length=100)] = Field(
        default_factory=lambda: ["*"]
    )
    enabled: bool = True
    # The signing secret; generated (and shown once) when not given.
    secret: Annotated[str, Field(min_length=16, max_length=255)] | None = None


class WebhookUpdate(_In):
    name: Short | None = None
    url: Annotated[str, Field(min_length=1, max_length=2048)] | None = None
    topics: Annotated[list[Short], Field(min_length=1, max_length=100)] | None = None
    enabled: bool | None = None


class SubscriptionIn(_In):
    topic: Annotated[
        str, Field(min_length=1, max_length=64, pattern=r"^(\*|[a-z_]+(\.(\*|[a-z_]+))?)$")
    ]
    email: bool = True
    digest: Digest = "immediate"
