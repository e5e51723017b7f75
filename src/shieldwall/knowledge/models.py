"""Which taxonomies and warninglists are enabled, and the galaxies and clusters with the
ids MISP clients address them by. Their content stays in the packages."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from shieldwall.db.base import Base


class Taxonomy(Base):
    __tablename__ = "taxonomies"

    id: Mapped[int] = mapped_column(primary_key=True)
    namespace: Mapped[str] = mapped_column(sa.String(255), unique=True)
    version: Mapped[int] = mapped_column(default=1)
    enabled: Mapped[bool] = mapped_column(default=False)
    required: Mapped[bool] = mapped_column(default=False)


class Warninglist(Base):
    __tablename__ = "warninglists"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(255), unique=True)
    type: Mapped[str] = mapped_column(sa.String(32))
    version: Mapped[int] = mapped_column(sa.BigInteger, default=1)
    enabled: Mapped[bool] = mapped_column(default=False)


class Galaxy(Base):
    __tablename__ = "galaxies"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True)
    type: Mapped[str] = mapped_column(sa.String(255), unique=True)
    name: Mapped[str] = mapped_column(sa.String(255))
    namespace: Mapped[str] = mapped_column(sa.String(255), default="misp")
    description: Mapped[str] = mapped_column(sa.Text, default="")
    version: Mapped[int] = mapped_column(default=1)
    icon: Mapped[str] = mapped_column(sa.String(255), default="")
    # Whether this galaxy's clusters have been loaded into galaxy_clusters.
    clusters_loaded: Mapped[bool] = mapped_column(default=False)


class GalaxyCluster(Base):
    __tablename__ = "galaxy_clusters"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(sa.String(36), unique=True)
    galaxy_id: Mapped[int] = mapped_column(
        sa.ForeignKey("galaxies.id", ondelete="CASCADE"), index=True
    )
    value: Mapped[str] = mapped_column(sa.Text)
    tag_name: Mapped[str] = mapped_column(sa.String(255), index=True)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    meta: Mapped[dict[str, object]] = mapped_column(sa.JSON, default=dict)
