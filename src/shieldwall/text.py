"""Text as Shieldwall accepts it at the edge."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

# No NUL characters: PostgreSQL cannot store them in text, and SQLite must not store what
# PostgreSQL refuses. The check runs in pydantic's core (a Rust regex), off the Python path.
Text = Annotated[str, StringConstraints(pattern=r"^[^\x00]*$")]
