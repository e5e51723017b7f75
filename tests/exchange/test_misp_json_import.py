"""MISP JSON import: sharing groups mapped by uuid, savepoints per event, batches."""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson
import sqlalchemy as sa

from shieldwall.context import system_ctx
from shieldwall.exchange import misp_json
from shieldwall.intel.models import Attribute, Event


def _event(**kw: object) -> dict[str, object]:
    body: dict[str, object] = {
        "uuid": str(uuid.uuid4()),
        "info": "imported",
        "distribution": "1",
        "Attribute": [
            {"type": "domain", "value": f"{uuid.uuid4().hex[:8]}.example", "distribution": "5"}
        ],
    }
    body.update(kw)
    return body


def test_sharing_groups_are_mapped_by_uuid(admin, instance, tmp_path: Path) -> None:
    sg = admin.post("/api/v1/sharing-groups", json={"name": "import-sg"}).json()
    known = _event(
        distribution="4", sharing_group_id="77", SharingGroup={"uuid": sg["uuid"], "name": "x"}
    )
    unknown = _event(
        distribution="4", sharing_group_id="78", SharingGroup={"uuid": str(uuid.uuid4())}
    )
    attr_level = _event()
    attr_level["Attribute"] = [
        {
            "type": "ip-dst",
            "value": "192.0.2.44",
            "distribution": "4",
            "sharing_group_id": "9",
            "SharingGroup": {"uuid": sg["uuid"]},
        }
    ]
    path = tmp_path / "events.json"
    path.write_bytes(
        orjson.dumps({"response": [{"Event": e} for e in (known, unknown, attr_level)]})
    )
    report = misp_json.import_file(instance.db, system_ctx(instance.host_org_id), path)
    assert (report.created, report.failed) == (2, 1), report.errors
    assert "does not exist here" in report.errors[0] and unknown["uuid"] in report.errors[0]
    with instance.db.reading() as s:
        event = s.execute(sa.select(Event).where(Event.uuid == known["uuid"])).scalar_one()
        assert event.sharing_group_id == sg["id"]
        attr = s.execute(sa.select(Attribute).where(Attribute.value1 == "192.0.2.44")).scalar_one()
        assert (attr.distribution, attr.sharing_group_id) == (4, sg["id"])


def test_batches_commit_and_a_bad_event_rolls_back_alone(
    instance, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(misp_json, "COMMIT_EVERY", 2)  # several commits within one file
    good = [_event() for _ in range(5)]
    bad = _event()
    bad["Attribute"] = [
        {"type": "domain", "value": "fine.example"},
        {"type": "ip-dst", "value": "not-an-ip"},
    ]
    invalid = {"uuid": str(uuid.uuid4()), "Attribute": []}  # no info: a validation error
    events = [*good[:2], bad, *good[2:4], invalid, good[4]]
    path = tmp_path / "events.json"
    path.write_bytes(orjson.dumps([{"Event": e} for e in events]))
    report = misp_json.import_file(instance.db, system_ctx(instance.host_org_id), path)
    assert (report.created, report.failed, report.attributes) == (5, 2, 5), report.errors
    assert any("attributes[1].value" in e for e in report.errors)
    assert any("info" in e for e in report.errors)
    with instance.db.reading() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Event)) == 5
        assert (
            s.scalar(
                sa.select(sa.func.count())
                .select_from(Attribute)
                .where(Attribute.value1 == "fine.example")
            )
            == 0
        )
    again = misp_json.import_file(instance.db, system_ctx(instance.host_org_id), path)
    assert (again.created, again.skipped, again.failed) == (0, 5, 2)


def test_an_attribute_uuid_already_stored_fails_that_event_alone(
    admin, instance, tmp_path: Path
) -> None:
    first = _event()
    taken = str(uuid.uuid4())
    first["Attribute"] = [{"type": "domain", "value": "first.example", "uuid": taken}]
    clash = _event()
    clash["Attribute"] = [
        {"type": "domain", "value": "other.example"},
        {"type": "domain", "value": "clash.example", "uuid": taken},
    ]
    after = _event()
    path = tmp_path / "events.json"
    path.write_bytes(orjson.dumps([{"Event": e} for e in (first, clash, after)]))
    report = misp_json.import_file(instance.db, system_ctx(instance.host_org_id), path)
    assert (report.created, report.failed) == (2, 1), report.errors
    assert clash["uuid"] in report.errors[0] and "already stored" in report.errors[0]
    with instance.db.reading() as s:
        stored = set(s.scalars(sa.select(Attribute.value1)))
    assert "first.example" in stored
    assert not {"other.example", "clash.example"} & stored
    # The same clash through the API is a 409 and leaves nothing behind.
    r = admin.post(
        "/api/v1/events",
        json={
            "info": "api clash",
            "attributes": [
                {"type": "domain", "value": "api-other.example"},
                {"type": "domain", "value": "api-clash.example", "uuid": taken},
            ],
        },
    )
    assert r.status_code == 409, r.text
    with instance.db.reading() as s:
        assert s.scalars(sa.select(Event.id).where(Event.info == "api clash")).all() == []
        assert s.scalars(sa.select(Attribute.id).where(Attribute.value1.like("api-%"))).all() == []


def test_a_group_is_written_together_and_a_bad_one_event_by_event(instance) -> None:  # type: ignore[no-untyped-def]
    from shieldwall.intel.schemas import EventIn

    ctx = system_ctx(instance.host_org_id)
    good = [_event() for _ in range(3)]
    report = misp_json.ImportReport()
    with instance.db.writing() as s:
        written = misp_json.import_group(
            s, ctx, [(e, EventIn.model_validate(e)) for e in good], report
        )
    assert (written, report.pending_created, report.failed) == (3, 3, 0)
    bad = _event()
    bad["Attribute"] = [{"type": "ip-dst", "value": "not-an-ip"}]
    mixed = [_event(), bad, _event()]
    report = misp_json.ImportReport()
    with instance.db.writing() as s:
        written = misp_json.import_group(
            s, ctx, [(e, EventIn.model_validate(e)) for e in mixed], report
        )
    assert (written, report.pending_created, report.failed) == (2, 2, 1), report.errors
    assert bad["uuid"] in report.errors[0] and "attributes[0].value" in report.errors[0]
    with instance.db.reading() as s:
        stored = set(s.scalars(sa.select(Event.uuid)))
    assert {e["uuid"] for e in [*good, mixed[0], mixed[2]]} <= stored
    assert bad["uuid"] not in stored


def test_a_cut_file_keeps_the_events_before_and_names_where(instance, tmp_path: Path) -> None:
    first, second = _event(info='braces } ] { [ and "quotes" \\'), _event()
    text = orjson.dumps({"response": [{"Event": first}, {"Event": second}]}).decode()
    path = tmp_path / "cut.json"
    path.write_text(text[: text.index(second["uuid"])])
    report = misp_json.import_file(instance.db, system_ctx(instance.host_org_id), path)
    assert (report.created, report.failed) == (1, 1), report.errors
    (error,) = report.errors
    assert error.startswith(f"{path}: not valid JSON: the file ends inside a value"), error
    assert "line 1, column" in error
    with instance.db.reading() as s:
        assert s.scalars(sa.select(Event.info)).all() == [first["info"]]
