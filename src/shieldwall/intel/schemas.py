"""Input and output shapes of the intel domain. Inputs accept MISP's field names and its
loose JSON (string numbers, "0"/"1" booleans, epoch strings), so MISP JSON fits unchanged."""

from __future__ import annotations

from datetime import UTC, datetime
from datetime import date as Date
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
)

from shieldwall.text import Text


def _epoch_or_iso(v: Any) -> Any:
    if v in (None, "", 0, "0"):
        return None
    if isinstance(v, (int, float)) and not isinstance(v, bool) and v < 0:
        raise ValueError("a timestamp is not before 1970")
    if (
        isinstance(v, str)
        and v.strip().startswith("-")
        and v.strip()[1:].isascii()
        and v.strip()[1:].isdigit()
    ):
        raise ValueError("a timestamp is not before 1970")
    if isinstance(v, (int, float)) or (
        isinstance(v, str) and v.strip().isascii() and v.strip().isdigit()
    ):
        try:
            return datetime.fromtimestamp(int(v), UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError("epoch seconds out of range") from None
    return v


def _aware(v: datetime | None) -> datetime | None:
    if v is not None and v.tzinfo is None:
        return v.replace(tzinfo=UTC)
    return v


def _bool(v: Any) -> Any:
    if isinstance(v, str) and v.strip() in ("0", "1"):
        return v.strip() == "1"
    return v


def _str(v: Any) -> Any:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return str(v)
    return v


# Integers stored in 32-bit database columns (ids, numerical values): larger ones are refused
# here with the field named, not by the database.
DB_INT_MAX = 2**31 - 1
DbInt = Annotated[int, Field(ge=-DB_INT_MAX - 1, le=DB_INT_MAX)]
DbId = Annotated[int, Field(ge=0, le=DB_INT_MAX)]

Timestamp = Annotated[datetime | None, BeforeValidator(_epoch_or_iso), AfterValidator(_aware)]
Flag = Annotated[bool, BeforeValidator(_bool)]
OptFlag = Annotated[bool | None, BeforeValidator(_bool)]
Value = Annotated[str, BeforeValidator(_str)]


class _In(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", str_strip_whitespace=False)


class TagRef(_In):
    name: Text = Field(min_length=1, max_length=255)
    local: Flag = False
    colour: Text | None = None

    @field_validator("name", mode="after")
    @classmethod
    def _strip(cls, v: str) -> str:
        # One spelling everywhere: the TLP guard and the stored tag see the same name.
        v = v.strip()
        if not v:
            raise ValueError("a tag name is not blank")
        return v


class SightingIn(_In):
    type: int = Field(default=0, ge=0, le=2)
    source: Text = Field(default="", max_length=255)
    date_sighting: Timestamp = None
    uuid: Text | None = None


# MISP writes "" for "no time" and "0" for "no sharing group"; attribute times are settled
# (blank, time zone, range) in intel.events, where the error can name the attribute's field.
MispTime = datetime | Literal[""] | None


class AttributeIn(_In):
    # The import hot path: pydantic's own lax parsing does the work ("1"/"0" booleans, epoch
    # strings as times, numbers as strings), with no Python validator per attribute.
    model_config = ConfigDict(populate_by_name=True, extra="ignore", coerce_numbers_to_str=True)

    type: Text
    value: Text
    category: Text | None = None
    to_ids: bool | None = None
    uuid: Text | None = None
    distribution: int = Field(default=5, ge=0, le=5)
    sharing_group_id: DbId | Literal[""] | None = Field(default=None)
    sharing_group_uuid: Text | None = None
    comment: Text = ""
    object_relation: Text | None = None
    first_seen: MispTime = None
    last_seen: MispTime = None
    timestamp: MispTime = None
    disable_correlation: bool = False
    deleted: bool = False
    tags: list[TagRef] = Field(default_factory=list, validation_alias=AliasChoices("tags", "Tag"))
    sightings: list[SightingIn] = Field(
        default_factory=list, validation_alias=AliasChoices("sightings", "Sighting")
    )
    # The file of an attachment or malware-sample attribute, base64 (MISP's `data`);
    # `encrypt` asks for a malware sample to be packed as MISP packs it.
    data: str | None = None
    encrypt: bool = False


class AttributeUpdate(_In):
    type: Text | None = None
    value: Value | None = None
    category: Text | None = None
    to_ids: OptFlag = None
    distribution: int | None = Field(default=None, ge=0, le=5)
    sharing_group_id: DbId | None = None
    comment: Text | None = None
    first_seen: Timestamp = None
    last_seen: Timestamp = None
    disable_correlation: OptFlag = None
    # A new file for an attachment or malware-sample attribute (base64, as AttributeIn's).
    data: str | None = None
    encrypt: bool = False


class ReferenceIn(_In):
    referenced_uuid: Text
    relationship_type: Text = Field(min_length=1, max_length=255)
    comment: Text = ""
    uuid: Text | None = None


class ObjectIn(_In):
    name: Text = Field(min_length=1, max_length=255)
    template_uuid: Text | None = None
    template_version: DbInt | None = None
    meta_category: Text | None = Field(
        default=None, validation_alias=AliasChoices("meta_category", "meta-category")
    )
    description: Text | None = None
    uuid: Text | None = None
    comment: Text = ""
    distribution: int = Field(default=5, ge=0, le=5)
    sharing_group_id: DbId | None = None
    first_seen: Timestamp = None
    last_seen: Timestamp = None
    timestamp: Timestamp = None
    deleted: Flag = False
    attributes: list[AttributeIn] = Field(
        default_factory=list, validation_alias=AliasChoices("attributes", "Attribute")
    )
    references: list[ReferenceIn] = Field(
        default_factory=list, validation_alias=AliasChoices("references", "ObjectReference")
    )

    @field_validator("sharing_group_id", mode="before")
    @classmethod
    def _sg(cls, v: Any) -> Any:
        return None if v in ("", "0", 0) else v


class OrgRef(_In):
    name: Text = ""
    uuid: Text | None = None


class EventIn(_In):
    info: Text = Field(min_length=1, max_length=65535)
    date: Date | None = None
    threat_level_id: int = Field(default=4, ge=1, le=4)
    analysis: int = Field(default=0, ge=0, le=2)
    distribution: int = Field(default=1, ge=0, le=4)
    sharing_group_id: DbId | None = None
    uuid: Text | None = None
    published: Flag = False
    publish_timestamp: Timestamp = None
    timestamp: Timestamp = None
    extends_uuid: Text | None = None
    disable_correlation: Flag = False
    locked: Flag = False
    orgc: OrgRef | None = Field(default=None, validation_alias=AliasChoices("orgc", "Orgc"))
    attributes: list[AttributeIn] = Field(
        default_factory=list, validation_alias=AliasChoices("attributes", "Attribute")
    )
    objects: list[ObjectIn] = Field(
        default_factory=list, validation_alias=AliasChoices("objects", "Object")
    )
    tags: list[TagRef] = Field(default_factory=list, validation_alias=AliasChoices("tags", "Tag"))

    @field_validator("sharing_group_id", mode="before")
    @classmethod
    def _sg(cls, v: Any) -> Any:
        return None if v in ("", "0", 0) else v

    @field_validator("extends_uuid", mode="before")
    @classmethod
    def _ext(cls, v: Any) -> Any:
        return v or None


class EventUpdate(_In):
    info: Text | None = Field(default=None, min_length=1, max_length=65535)
    date: Date | None = None
    threat_level_id: int | None = Field(default=None, ge=1, le=4)
    analysis: int | None = Field(default=None, ge=0, le=2)
    distribution: int | None = Field(default=None, ge=0, le=4)
    sharing_group_id: DbId | None = None
    extends_uuid: Text | None = None
    disable_correlation: OptFlag = None
    locked: OptFlag = None


class TagIn(_In):
    name: Text = Field(min_length=1, max_length=255)
    colour: str = Field(default="#808080", pattern=r"^#[0-9a-fA-F]{6}$")
    exportable: Flag = True
    hide_tag: Flag = False
    local_only: Flag = False
    numerical_value: DbInt | None = None
    org_id: DbId | None = None


class TagUpdate(_In):
    name: Text | None = Field(default=None, min_length=1, max_length=255)
    colour: str | None = Field(default=None, pattern=r"^#[0-9a-fA-F]{6}$")
    exportable: OptFlag = None
    hide_tag: OptFlag = None
    local_only: OptFlag = None
    numerical_value: DbInt | None = None


class SharingGroupMemberIn(_In):
    org: Text
    extend: Flag = False


class SharingGroupIn(_In):
    name: Text = Field(min_length=1, max_length=255)
    description: Text = ""
    releasability: Text = ""
    uuid: Text | None = None
    active: Flag = True
    roaming: Flag = False
    all_local_orgs: Flag = False
    members: list[SharingGroupMemberIn] = Field(default_factory=list)


class SharingGroupUpdate(_In):
    name: Text | None = Field(default=None, min_length=1, max_length=255)
    description: Text | None = None
    releasability: Text | None = None
    active: OptFlag = None
    roaming: OptFlag = None
    all_local_orgs: OptFlag = None


class SightingCreate(_In):
    attribute: Text | None = Field(default=None, description="attribute id or uuid")
    value: Text | None = Field(
        default=None, description="sight every readable attribute with this value"
    )
    values: list[str] = Field(default_factory=list)
    type: int = Field(default=0, ge=0, le=2)
    source: Text = Field(default="", max_length=255)
    date_sighting: Timestamp = None
