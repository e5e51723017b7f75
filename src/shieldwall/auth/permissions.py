"""Every permission, named scope:resource:action, and MISP's default roles as sets of them."""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    EVENT_ADD = "intel:event:add"  # MISP perm_add
    EVENT_MODIFY = "intel:event:modify"  # perm_modify: events the user created
    EVENT_MODIFY_ORG = "intel:event:modify_org"  # perm_modify_org: any event of the org
    EVENT_PUBLISH = "intel:event:publish"  # perm_publish
    TAG_ATTACH = "intel:tag:attach"  # perm_tagger
    TAG_EDIT = "intel:tag:edit"  # perm_tag_editor
    SIGHTING_ADD = "intel:sighting:add"  # perm_sighting
    SHARING_GROUP_MANAGE = "intel:sharing_group:manage"  # perm_sharing_group
    SYNC = "sync:server:sync"  # perm_sync
    API_ACCESS = "auth:key:use"  # perm_auth: may hold and use API keys
    ORG_ADMIN = "admin:organisation:manage"  # perm_admin: users of the own organisation
    AUDIT_READ = "admin:audit:read"  # perm_audit
    SITE_ADMIN = "admin:site:manage"  # perm_site_admin
    # Incident response (beyond MISP).
    ALERT_CREATE = "response:alert:create"  # sensors and SIEMs send alerts
    ALERT_MANAGE = "response:alert:manage"  # triage: acknowledge, ignore, merge into cases
    CASE_MANAGE = "response:case:manage"  # cases, tasks, logs, observables
    CASE_SHARE = "response:case:share"  # share the organisation's cases with others
    RESPONSE_CONFIGURE = "response:config:manage"  # templates, SLA policies, rosters
    CONSTITUENCY_MANAGE = "response:constituency:manage"  # the organisation's networks
    WEBHOOK_MANAGE = "response:webhook:manage"  # the organisation's webhooks
    ASSISTANCE_REQUEST = "response:assistance:request"  # ask the alliance for help
    ASSISTANCE_COORDINATE = "response:assistance:coordinate"  # approve, decline, deploy teams


P = Permission

_USER = {
    P.EVENT_ADD,
    P.EVENT_MODIFY,
    P.EVENT_MODIFY_ORG,
    P.TAG_ATTACH,
    P.SIGHTING_ADD,
    P.API_ACCESS,
    P.ALERT_CREATE,
    P.ALERT_MANAGE,
    P.CASE_MANAGE,
    P.CASE_SHARE,
}
_ORG_RESPONSE = {
    P.RESPONSE_CONFIGURE,
    P.CONSTITUENCY_MANAGE,
    P.WEBHOOK_MANAGE,
    P.ASSISTANCE_REQUEST,
}

# MISP's seeded roles, by MISP's ids so role_id means the same in both worlds.
DEFAULT_ROLES: list[tuple[int, str, frozenset[Permission]]] = [
    (1, "admin", frozenset(Permission)),
    (
        2,
        "Org Admin",
        frozenset(
            _USER
            | _ORG_RESPONSE
            | {P.EVENT_PUBLISH, P.TAG_EDIT, P.SHARING_GROUP_MANAGE, P.ORG_ADMIN, P.AUDIT_READ}
        ),
    ),
    (3, "User", frozenset(_USER)),
    (4, "Publisher", frozenset(_USER | {P.EVENT_PUBLISH, P.ASSISTANCE_REQUEST})),
    (
        5,
        "Sync user",
        frozenset(_USER | {P.EVENT_PUBLISH, P.SYNC, P.TAG_EDIT, P.SHARING_GROUP_MANAGE}),
    ),
    (6, "Read Only", frozenset({P.API_ACCESS})),
    # Beyond MISP: the alliance's coordinators decide on assistance requests and deploy
    # rapid-reaction teams.
    (
        7,
        "Coordinator",
        frozenset(_USER | {P.EVENT_PUBLISH, P.ASSISTANCE_REQUEST, P.ASSISTANCE_COORDINATE}),
    ),
]


DEFAULT_ROLE_ID = 3

# Short names accepted by the CLI and API for the seeded roles.
ROLE_ALIASES = {
    "admin": 1,
    "site-admin": 1,
    "site_admin": 1,
    "org-admin": 2,
    "org_admin": 2,
    "user": 3,
    "publisher": 4,
    "sync": 5,
    "sync-user": 5,
    "sync_user": 5,
    "read-only": 6,
    "read_only": 6,
    "readonly": 6,
    "coordinator": 7,
}
