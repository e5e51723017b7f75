"""The stored STIX objects: rendering by catch-up, versions, shared objects, removal."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from shieldwall import clock
from shieldwall.jobs import taxii as taxii_job
from shieldwall.jobs.foreground import Foreground
from shieldwall.jobs.taxii import run_taxii_job
from shieldwall.taxii import store
from shieldwall.taxii.models import StixEventState, StixObject, StixObjectEvent
from shieldwall.taxii.store import catch_up, pending_events
from tests.taxii.conftest import ip


def _rows(instance, **where):  # type: ignore[no-untyped-def]
    with instance.db.reading() as s:
        query = sa.select(StixObject)
        for name, value in where.items():
            query = query.where(getattr(StixObject, name) == value)
        rows = list(s.execute(query).scalars())
        s.expunge_all()
        return rows


def test_catch_up_renders_changed_events_once(instance, admin, add_event) -> None:
    first = add_event(admin, "one", [ip("192.0.2.101"), ip("192.0.2.102")])
    second = add_event(admin, "two", [ip("192.0.2.103")])
    assert catch_up(instance.db) == 2
    assert catch_up(instance.db) == 0  # nothing changed: nothing rendered
    with instance.db.reading() as s:
        assert pending_events(s, 10) == []
        assert s.execute(sa.select(sa.func.count()).select_from(StixEventState)).scalar() == 2

    # The organisation's identity is stored once a version, shared by the events using it.
    identities = _rows(instance, type="identity")
    assert len({r.stix_id for r in identities}) == 1
    assert len({r.version for r in identities}) == len(identities)
    assert all(r.event_id is None for r in identities)
    with instance.db.reading() as s:
        linked = set(
            s.execute(
                sa.select(StixObjectEvent.event_id).where(
                    StixObjectEvent.object_row_id.in_([r.id for r in identities])
                )
            ).scalars()
        )
    assert linked == {int(first["id"]), int(second["id"])}

    # An attribute's objects are tied to it; dates added only grow.
    attr = first["Attribute"][0]
    tied = _rows(instance, stix_id=f"indicator--{attr['uuid']}")
    assert len(tied) == 1 and tied[0].attribute_id == int(attr["id"]) and tied[0].is_latest
    added = [r.date_added for r in sorted(_rows(instance), key=lambda r: r.id)]
    assert added == sorted(added) and len(set(added)) == len(added)

    # Deleting the attribute removes every object that showed it at the next catch-up.
    assert admin.post(f"/attributes/delete/{attr['uuid']}").status_code == 200
    assert catch_up(instance.db) == 1
    assert not [r for r in _rows(instance) if r.stix_id.endswith(attr["uuid"])]
    assert _rows(instance, stix_id=f"indicator--{first['Attribute'][1]['uuid']}")

    # Deleting the event removes its objects; the shared identity stays for the other one.
    assert admin.delete(f"/events/delete/{first['uuid']}").status_code == 200
    assert not _rows(instance, event_id=int(first["id"]))
    assert _rows(instance, type="identity")
    assert admin.delete(f"/events/delete/{second['uuid']}").status_code == 200
    assert run_taxii_job(instance.db) == 0
    assert _rows(instance) == []  # the identity no event uses went too


class _Requests(Foreground):
    """The server's requests as the job sees them, recording what was pending each time the
    job yielded and checking that it held no write transaction then."""

    def __init__(self, db, busy: bool = False) -> None:  # type: ignore[no-untyped-def]
        super().__init__()
        self.db = db
        self.pending: list[int] = []
        self.requests_coming = busy

    def in_flight(self) -> bool:
        return self.requests_coming

    def wait_quiet(self, quiet, longest, stop=None) -> bool:  # type: ignore[no-untyped-def]
        # Another writer gets the write lock now (on SQLite this would wait for the job's
        # transaction, in this very thread, and fail).
        with self.db.writing() as s:
            self.pending.append(len(pending_events(s, 100)))
        return True


def test_server_job_renders_in_slices_and_yields_between(
    instance, admin, add_event, monkeypatch
) -> None:
    for n in range(3):
        add_event(admin, f"sliced {n}", [ip(f"192.0.2.{110 + n}")])
    monkeypatch.setattr(taxii_job, "SLICE_SECONDS", 0.0)  # one event a transaction
    requests = _Requests(instance.db)
    assert run_taxii_job(instance.db, threading.Event(), requests) == 3
    # The job yielded before each transaction: one event rendered in each, then none left.
    assert requests.pending[:4] == [3, 2, 1, 0]
    assert set(requests.pending[4:]) <= {0}
    with instance.db.reading() as s:
        assert pending_events(s, 10) == []


def test_render_stores_what_a_large_event_shows(instance, admin, add_event, monkeypatch) -> None:
    # More objects than one 500-id chunk: every version flagged, each object stored once.
    made = add_event(admin, "large", [ip(f"198.51.{i // 250}.{i % 250}") for i in range(600)])
    assert catch_up(instance.db) == 1
    rows = _rows(instance, event_id=int(made["id"]))
    assert len(rows) >= 600 and len({r.stix_id for r in rows}) == len(rows)
    assert all(r.is_latest and r.is_first for r in rows)
    added = [r.date_added for r in sorted(rows, key=lambda r: r.id)]
    assert added == sorted(added)
    # A changed attribute: a new version, the old one no longer latest.
    attr = made["Attribute"][0]
    later = datetime.now(UTC) + timedelta(minutes=1)  # a new modified time, not the same second
    monkeypatch.setattr(clock, "_now", lambda: later)
    r = admin.post(f"/attributes/edit/{attr['uuid']}", json={"comment": "changed"})
    assert r.status_code == 200, r.text
    assert catch_up(instance.db) == 1
    versions = sorted(
        _rows(instance, stix_id=f"indicator--{attr['uuid']}"), key=lambda r: r.version
    )
    assert len(versions) == 2
    assert [(v.is_latest, v.is_first) for v in versions] == [(False, True), (True, False)]


def test_a_request_coming_in_ends_the_jobs_transaction(
    instance, admin, add_event, monkeypatch
) -> None:
    monkeypatch.setattr(taxii_job, "SLICE_SECONDS", 3600.0)  # no slice ends by time here
    for n in range(3):
        add_event(admin, f"interrupted {n}", [ip(f"192.0.2.{120 + n}")])
    # Only the request in flight ends each transaction, after its event.
    requests = _Requests(instance.db, busy=True)
    assert run_taxii_job(instance.db, threading.Event(), requests) == 3
    assert requests.pending[:4] == [3, 2, 1, 0]
    # No request: the three fit in one transaction.
    for n in range(3):
        add_event(admin, f"together {n}", [ip(f"192.0.2.{130 + n}")])
    requests = _Requests(instance.db)
    assert run_taxii_job(instance.db, threading.Event(), requests) == 3
    assert requests.pending[:2] == [3, 0]


def test_a_large_render_gives_way_to_a_request_and_writes_nothing(
    instance, admin, add_event, monkeypatch
) -> None:
    monkeypatch.setattr(store, "_INSERT_PIECE", 40)  # 120 objects: a "large" render
    monkeypatch.setattr(store, "_GAVE_WAY", {})
    made = add_event(admin, "large, interrupted", [ip(f"198.51.100.{i}") for i in range(120)])
    event_id = int(made["id"])
    looks: list[int] = []

    def request_arrives_on_third_look() -> bool:
        looks.append(1)
        return len(looks) >= 3

    # Nobody to wait for (no `before`): the job stops at once, its savepoint rolled back.
    assert catch_up(instance.db, interrupt=request_arrives_on_third_look) == 0
    assert len(looks) == 3
    assert _rows(instance, event_id=event_id) == []
    with instance.db.reading() as s:
        assert pending_events(s, 10) == [event_id]
    assert event_id in store._GAVE_WAY
    # Quiet again: the next pass renders the whole event and forgets that it gave way.
    assert catch_up(instance.db, interrupt=lambda: False) == 1
    assert len(_rows(instance, event_id=event_id)) >= 120
    assert event_id not in store._GAVE_WAY


def test_a_render_gives_way_only_for_a_while(instance, admin, add_event, monkeypatch) -> None:
    monkeypatch.setattr(store, "_INSERT_PIECE", 40)
    monkeypatch.setattr(store, "_GAVE_WAY", {})
    made = add_event(admin, "large, busy server", [ip(f"198.51.100.{i}") for i in range(120)])
    assert catch_up(instance.db, interrupt=lambda: True) == 0
    # Past GIVE_WAY_SECONDS the render runs to its end although requests keep coming.
    monkeypatch.setattr(store, "GIVE_WAY_SECONDS", 0.0)
    assert catch_up(instance.db, interrupt=lambda: True) == 1
    assert len(_rows(instance, event_id=int(made["id"]))) >= 120


def test_the_server_job_gives_way_mid_render_then_finishes(
    instance, admin, add_event, monkeypatch
) -> None:
    monkeypatch.setattr(store, "_INSERT_PIECE", 40)
    monkeypatch.setattr(store, "_GAVE_WAY", {})
    made = add_event(admin, "large, one request", [ip(f"198.51.100.{i}") for i in range(120)])

    class OneRequest(_Requests):
        looked = 0

        def in_flight(self) -> bool:  # a request arrives during the first render only
            self.looked += 1
            return self.looked == 2

    requests = OneRequest(instance.db)
    assert run_taxii_job(instance.db, threading.Event(), requests) == 1
    # It waited before the first try and, after giving way, before the second: the event
    # was still pending both times (another writer got the lock in between).
    assert requests.pending[:3] == [1, 1, 0]
    assert len(_rows(instance, event_id=int(made["id"]))) >= 120
