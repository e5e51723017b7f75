"""The per-attribute correlation indexes (IP networks, ssdeep chunks): kept current by every
write that adds or changes attributes, and rebuilt from the attributes on demand."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shieldwall.correlation.models import CorrelationNetwork, CorrelationSsdeep
from shieldwall.correlation.rules import (
    INDEXED_TYPES,
    NETWORK_TYPES,
    SSDEEP_TYPES,
    parse_network,
    ssdeep_chunks,
)
from shieldwall.db.bulk import insert_rows
from shieldwall.intel.models import Attribute

NETWORK_COLUMNS = ("attribute_id", "family", "plen", "lo", "hi")
SSDEEP_COLUMNS = ("attribute_id", "block_size", "chunk")
_TABLES: tuple[sa.Table, ...] = (CorrelationNetwork.__table__, CorrelationSsdeep.__table__)  # type: ignore[assignment]
READ_CHUNK = 20_000


def _index(session: Session, items: Iterable[tuple[int, str, str]]) -> tuple[int, int]:
    """Write the index rows of (attribute id, type, value1) items; returns how many network
    rows and ssdeep chunk rows were written."""
    nets: list[tuple[Any, ...]] = []
    chunks: list[tuple[Any, ...]] = []
    for attr_id, attr_type, value1 in items:
        if attr_type in NETWORK_TYPES:
            net = parse_network(value1)
            if net is not None:
                nets.append((attr_id, net.family, net.plen, net.lo, net.hi))
        elif attr_type in SSDEEP_TYPES:
            chunks.extend((attr_id, bs, c) for bs, c in ssdeep_chunks(value1))
    conn = session.connection()
    for table, names, rows in (
        (CorrelationNetwork.__table__, NETWORK_COLUMNS, nets),
        (CorrelationSsdeep.__table__, SSDEEP_COLUMNS, chunks),
    ):
        if rows:
            insert_rows(conn, table, names, rows)  # type: ignore[arg-type]
    return len(nets), len(chunks)


def index_items(session: Session, items: Iterable[tuple[int, str, str]]) -> int:
    """Index attributes just written, given as (id, type, value1): the writer knows them,
    so nothing is read back. Returns how many were given."""
    items = list(items)
    _index(session, items)
    return len(items)


def reindex_attributes(session: Session, attribute_ids: Iterable[int]) -> None:
    """Index these attributes again from their current values (after an edit)."""
    ids = sorted(set(attribute_ids))
    if not ids:
        return
    conn = session.connection()
    for table in _TABLES:
        conn.execute(sa.delete(table).where(table.c.attribute_id.in_(ids)))
    items = conn.execute(
        sa.select(Attribute.id, Attribute.type, Attribute.value1).where(
            Attribute.id.in_(ids), Attribute.type.in_(sorted(INDEXED_TYPES))
        )
    ).all()
    _index(session, items)


def rebuild(
    session: Session, on_progress: Callable[[int, int], None] | None = None
) -> dict[str, int]:
    """Empty the indexes and build them again from every attribute, in the caller's
    transaction. `on_progress(last id read, highest id)` follows the scan."""
    conn = session.connection()
    top = conn.execute(sa.select(sa.func.max(Attribute.id))).scalar_one() or 0
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("TRUNCATE correlation_networks, correlation_ssdeep")
    else:
        for table in _TABLES:
            conn.execute(sa.delete(table))
    counts = {"networks": 0, "ssdeep_hashes": 0, "ssdeep_chunks": 0}
    last = 0
    while True:
        rows = conn.execute(
            sa.select(Attribute.id, Attribute.type, Attribute.value1)
            .where(Attribute.id > last, Attribute.type.in_(sorted(INDEXED_TYPES)))
            .order_by(Attribute.id)
            .limit(READ_CHUNK)
        ).all()
        if not rows:
            break
        last = rows[-1][0]
        nets, chunks = _index(session, rows)
        counts["networks"] += nets
        counts["ssdeep_chunks"] += chunks
        if on_progress is not None:
            on_progress(last, top)
    counts["ssdeep_hashes"] = conn.execute(
        sa.select(sa.func.count(sa.distinct(CorrelationSsdeep.attribute_id)))
    ).scalar_one()
    if conn.dialect.name == "postgresql":
        # Fresh statistics, so the planner reads the few ranges through their partial index.
        conn.exec_driver_sql("ANALYZE correlation_networks, correlation_ssdeep")
    if on_progress is not None:
        on_progress(top, top)
    return counts
