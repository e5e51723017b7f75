"""Database engine, sessions, declarative base and shared column types."""

from shieldwall.db.base import Base, UTCDateTime, new_uuid
from shieldwall.db.engine import (
    Database,
    get_database,
    set_database,
)

__all__ = ["Base", "Database", "UTCDateTime", "get_database", "new_uuid", "set_database"]
