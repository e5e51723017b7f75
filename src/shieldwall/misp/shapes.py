"""Shieldwall objects in MISP's JSON shapes: string ids, epoch strings, wrapped objects."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from shieldwall.auth.models import Organisation, Role, User
from shieldwall.auth.permissions import Permission

# MISP's role flags and the Shieldwall permission behind each.
ROLE_FLAGS: dict[str, Permission | None] = {
    "perm_add": Permission.EVENT_ADD,
    "perm_modify": Permission.EVENT_MODIFY,
    "perm_modify_org": Permission.EVENT_MODIFY_ORG,
    "perm_publish": Permission.EVENT_PUBLISH,
    "perm_delegate": None,
    "perm_sync": Permission.SYNC,
    "perm_admin": Permission.ORG_ADMIN,
    "perm_audit": Permission.AUDIT_READ,
    "perm_auth": Permission.API_ACCESS,
    "perm_site_admin": Permission.SITE_ADMIN,
    "perm_regexp_access": None,
    "perm_tagger": Permission.TAG_ATTACH,
    "perm_template": None,
    "perm_sharing_group": Permission.SHARING_GROUP_MANAGE,
    "perm_tag_editor": Permission.TAG_EDIT,
    "perm_sighting": Permission.SIGHTING_ADD,
    "perm_object_template": None,
    "perm_galaxy_editor": None,
    "perm_warninglist": None,
    "perm_publish_zmq": None,
    "perm_publish_kafka": None,
    "perm_decaying": None,
}


def epoch(value: datetime | None) -> str:
    return str(int(value.timestamp())) if value is not None else "0"


def microseconds(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def org_shape(org: Organisation) -> dict[str, Any]:
    return {"id": str(org.id), "name": org.name, "uuid": org.uuid, "local": org.local}


def role_shape(role: Role) -> dict[str, Any]:
    perms = set(role.permissions)
    site_admin = Permission.SITE_ADMIN.value in perms
    out: dict[str, Any] = {"id": str(role.id), "name": role.name, "default_role": role.default_role}
    for flag, perm in ROLE_FLAGS.items():
        out[flag] = bool(site_admin or (perm is not None and perm.value in perms))
    out["permission"] = "3" if out["perm_publish"] else "2" if out["perm_add"] else "0"
    return out


def user_shape(user: User) -> dict[str, Any]:
    return {
        "User": {
            "id": str(user.id),
            "org_id": str(user.org_id),
            "email": user.email,
            "role_id": str(user.role_id),
            "disabled": user.disabled,
            "autoalert": False,
            "contactalert": False,
            "termsaccepted": True,
            "change_pw": False,
            "last_login": epoch(user.last_login),
            "date_created": epoch(user.created_at),
            "authkey": None,
            "password": "*****",
        },
        "Role": role_shape(user.role),
        "UserSetting": {},
        "Organisation": org_shape(user.org),
    }


def tag_shape(tag: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(tag["id"]),
        "name": tag["name"],
        "colour": tag["colour"],
        "exportable": tag["exportable"],
        "hide_tag": tag["hide_tag"],
        "numerical_value": tag["numerical_value"],
        "local": 1 if tag.get("local") else 0,
        "local_only": tag["local_only"],
    }


@lru_cache(maxsize=4096)
def _epoch_iso(iso: str | None) -> str:
    # Cached: the attributes of an event mostly share a handful of timestamps.
    return epoch(datetime.fromisoformat(iso)) if iso else "0"


def attribute_shape(a: dict[str, Any]) -> dict[str, Any]:
    """From the native serialisation (intel.serialize.attribute_out)."""
    out = {
        "id": str(a["id"]),
        "uuid": a["uuid"],
        "event_id": str(a["event_id"]),
        "object_id": str(a["object_id"] or 0),
        "object_relation": a["object_relation"],
        "category": a["category"],
        "type": a["type"],
        "value": a["value"],
        "to_ids": a["to_ids"],
        "timestamp": _epoch_iso(a["timestamp"]),
        "distribution": str(a["distribution"]),
        "sharing_group_id": str(a["sharing_group_id"] or 0),
        "comment": a["comment"],
        "deleted": a["deleted"],
        "disable_correlation": a["disable_correlation"],
        "first_seen": a["first_seen"],
        "last_seen": a["last_seen"],
    }
    if "tags" in a:
        out["Tag"] = [tag_shape(t) for t in a["tags"]]
    if "event_uuid" in a:
        out["event_uuid"] = a["event_uuid"]
    return out


def reference_shape(r: dict[str, Any]) -> dict[str, Any]:
    """From the native serialisation (intel.serialize.reference_out)."""
    return {
        "id": str(r["id"]),
        "uuid": r["uuid"],
        "object_id": str(r["object_id"]),
        "referenced_uuid": r["referenced_uuid"],
        "referenced_type": "0" if r["referenced_type"] == "Attribute" else "1",
        "relationship_type": r["relationship_type"],
        "comment": r["comment"],
        "timestamp": _epoch_iso(r["timestamp"]),
    }


def object_shape(o: dict[str, Any]) -> dict[str, Any]:
    """From the native serialisation (intel.serialize.object_out)."""
    return {
        "id": str(o["id"]),
        "uuid": o["uuid"],
        "event_id": str(o["event_id"]),
        "name": o["name"],
        "meta-category": o["meta_category"],
        "description": o["description"],
        "template_uuid": o["template_uuid"],
        "template_version": str(o["template_version"] or ""),
        "comment": o["comment"],
        "distribution": str(o["distribution"]),
        "sharing_group_id": str(o["sharing_group_id"] or 0),
        "timestamp": _epoch_iso(o["timestamp"]),
        "first_seen": o["first_seen"],
        "last_seen": o["last_seen"],
        "deleted": o["deleted"],
        "Attribute": [attribute_shape(a) for a in o["attributes"]],
        "ObjectReference": [reference_shape(r) for r in o["references"]],
    }


def event_shape(e: dict[str, Any], *, metadata: bool = False) -> dict[str, Any]:
    """From the native serialisation (intel.serialize.event_detail or event_summary)."""
    out: dict[str, Any] = {
        "id": str(e["id"]),
        "uuid": e["uuid"],
        "info": e["info"],
        "date": e["date"],
        "threat_level_id": str(e["threat_level_id"]),
        "analysis": str(e["analysis"]),
        "distribution": str(e["distribution"]),
        "sharing_group_id": str(e["sharing_group_id"] or 0),
        "org_id": str(e["org"]["id"]),
        "orgc_id": str(e["orgc"]["id"]),
        "published": e["published"],
        "publish_timestamp": _epoch_iso(e["publish_timestamp"]),
        "timestamp": _epoch_iso(e["timestamp"]),
        "locked": e["locked"],
        "extends_uuid": e["extends_uuid"] or "",
        "disable_correlation": e["disable_correlation"],
        "user_id": str(e["user_id"] or 0),
        "Org": {
            "id": str(e["org"]["id"]),
            "name": e["org"]["name"],
            "uuid": e["org"]["uuid"],
            "local": e["org"]["local"],
        },
        "Orgc": {
            "id": str(e["orgc"]["id"]),
            "name": e["orgc"]["name"],
            "uuid": e["orgc"]["uuid"],
            "local": e["orgc"]["local"],
        },
    }
    if "tags" in e:
        out["Tag"] = [tag_shape(t) for t in e["tags"]]
    if not metadata and "attributes" in e:
        out["Attribute"] = [attribute_shape(a) for a in e["attributes"]]
        out["Object"] = [object_shape(o) for o in e["objects"]]
        out["ShadowAttribute"] = []
        out["RelatedEvent"] = []
        out["Galaxy"] = []
        out["EventReport"] = []
    return out
