"""The MISP community's knowledge, from its own packages: taxonomies (pytaxonomies),
warninglists (pymispwarninglists) and galaxies with their clusters (pymispgalaxies)."""

from __future__ import annotations

from sqlalchemy.orm import Session


def sync_all(session: Session) -> None:
    """Store the taxonomies, warninglists and galaxies of the installed packages (new ones
    appear, enabled flags stay). Runs at every start."""
    from shieldwall.knowledge import galaxies, taxonomies, warninglists

    taxonomies.sync(session)
    warninglists.sync(session)
    galaxies.sync(session)
