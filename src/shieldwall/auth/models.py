"""Organisations, roles, users and API keys."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shieldwall.clock import now
from shieldwall.db.base import Base, UTCDateTime, new_uuid


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(sa.String(255), unique=True)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    nationality: Mapped[str] = mapped_column(sa.String(255), default="")
    sector: Mapped[str] = mapped_column(sa.String(255), default="")
    type: Mapped[str] = mapped_column(sa.String(255), default="")
    contacts: Mapped[str] = mapped_column(sa.Text, default="")
    local: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)


class Role(Base):
    __tablename__ = "roles"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(sa.String(255), unique=True)
    permissions: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    default_role: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True, default=new_uuid)
    email: Mapped[str] = mapped_column(sa.String(255), unique=True)
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    role_id: Mapped[int] = mapped_column(sa.ForeignKey("roles.id"))
    password_hash: Mapped[str | None] = mapped_column(sa.String(255), default=None)
    disabled: Mapped[bool] = mapped_column(default=False)
    last_login: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    failed_logins: Mapped[int] = mapped_column(default=0)
    # Bumped by logout: every session cookie issued before ends at once.
    session_epoch: Mapped[int] = mapped_column(default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)

    org: Mapped[Organisation] = relationship(lazy="joined", innerjoin=True)
    role: Mapped[Role] = relationship(lazy="joined", innerjoin=True)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True, default=new_uuid)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    key_start: Mapped[str] = mapped_column(sa.String(4))
    key_end: Mapped[str] = mapped_column(sa.String(4))
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    allowed_networks: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    read_only: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    user: Mapped[User] = relationship(lazy="joined", innerjoin=True)
