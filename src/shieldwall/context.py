"""The request context every domain service receives: who reads or writes, and how."""

from __future__ import annotations

from dataclasses import dataclass, field

from shieldwall.audit.service import Actor
from shieldwall.intel.visibility import Principal, ReadOptions


@dataclass(frozen=True)
class Ctx:
    principal: Principal
    actor: Actor
    opts: ReadOptions = field(default_factory=ReadOptions)

    @property
    def org_id(self) -> int:
        return self.principal.org_id


def system_ctx(org_id: int, opts: ReadOptions | None = None) -> Ctx:
    """A site-admin context for CLI work on behalf of the host organisation."""
    from shieldwall.auth.permissions import Permission

    principal = Principal(org_id=org_id, permissions=frozenset(Permission), kind="system")
    return Ctx(
        principal=principal, actor=Actor(org_id=org_id, label="cli"), opts=opts or ReadOptions()
    )
