"""Native API: attachment and malware-sample files (in, download, access rules, limits) and
runtime settings (read with their source, written by site admins only, read through by
every process)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile

import sqlalchemy as sa

from shieldwall import server_settings
from shieldwall.audit.models import AuditEntry
from shieldwall.correlation.engine import Options
from shieldwall.intel.models import Attribute, AttributeAttachment

SAMPLE = b"\x7fELF sample bytes" * 50
MD5 = hashlib.md5(SAMPLE).hexdigest()


def _files_event(distribution: int) -> dict[str, object]:
    return {
        "info": "files",
        "distribution": distribution,
        "attributes": [
            {
                "type": "malware-sample",
                "value": "implant.elf",
                "data": base64.b64encode(SAMPLE).decode(),
            },
            {"type": "attachment", "value": "notes.txt", "data": base64.b64encode(b"hi").decode()},
        ],
    }


def test_files_are_stored_with_their_attribute_and_downloaded(admin, make_user, instance) -> None:  # type: ignore[no-untyped-def]
    alpha = make_user("ALPHA", "publisher")
    beta = make_user("BETA", "user")
    private = alpha.api.post("/api/v1/events", json=_files_event(0))
    assert private.status_code == 201, private.text
    shared = alpha.api.post("/api/v1/events", json=_files_event(1)).json()
    detail = alpha.api.get(f"/api/v1/events/{private.json()['uuid']}").json()
    sample = next(a for a in detail["attributes"] if a["type"] == "malware-sample")
    assert sample["value"] == f"implant.elf|{MD5}"
    got = alpha.api.get(f"/api/v1/attributes/{sample['uuid']}/file")
    assert got.status_code == 200 and got.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(got.content)) as z:
        assert z.read(MD5, pwd=b"infected") == SAMPLE
        assert z.read(f"{MD5}.filename.txt", pwd=b"infected") == b"implant.elf"
    # Another organisation: the private file answers as if it did not exist.
    hidden = beta.api.get(f"/api/v1/attributes/{sample['uuid']}/file")
    assert hidden.status_code == 404
    shared_note = next(
        a
        for a in alpha.api.get(f"/api/v1/events/{shared['uuid']}").json()["attributes"]
        if a["type"] == "attachment"
    )
    note = beta.api.get(f"/api/v1/attributes/{shared_note['id']}/file")
    assert note.status_code == 200 and note.content == b"hi"
    assert 'filename="notes.txt"' in note.headers["content-disposition"]
    # Not a file attribute: nothing to download.
    plain = alpha.api.post(
        f"/api/v1/events/{shared['uuid']}/attributes", json={"type": "domain", "value": "x.example"}
    ).json()["items"][0]
    assert alpha.api.get(f"/api/v1/attributes/{plain['id']}/file").status_code == 404
    # Hard-deleting the attribute removes its file with it.
    assert alpha.api.delete(f"/api/v1/attributes/{sample['uuid']}?hard=true").status_code == 204
    with instance.db.reading() as s:
        ids = set(s.execute(sa.select(AttributeAttachment.attribute_id)).scalars())
        live = set(s.execute(sa.select(Attribute.id)).scalars())
        assert ids and ids <= live and sample["id"] not in ids


def test_bad_files_are_refused_and_nothing_is_written(admin, instance) -> None:  # type: ignore[no-untyped-def]
    bad = _files_event(1)
    bad["attributes"][1]["data"] = "%%%"  # type: ignore[index]
    r = admin.post("/api/v1/events", json=bad)
    assert r.status_code == 422 and r.json()["field"] == "attributes[1].data"
    admin.put("/api/v1/settings/attachment_max_mb", json={"value": 1})
    big = _files_event(1)
    big["attributes"][0]["data"] = base64.b64encode(b"\0" * (1024 * 1024 + 1)).decode()  # type: ignore[index]
    r = admin.post("/api/v1/events", json=big)
    assert r.status_code == 413, r.text
    assert r.json()["field"] == "attributes[0].data" and "attachment_max_mb" in r.json()["detail"]
    wrong = {"info": "x", "attributes": [{"type": "md5", "value": MD5, "data": "aGk="}]}
    r = admin.post("/api/v1/events", json=wrong)
    assert r.status_code == 422 and r.json()["field"] == "attributes[0].data"
    with instance.db.reading() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Attribute)) == 0
        assert s.scalar(sa.select(sa.func.count()).select_from(AttributeAttachment)) == 0


def test_settings_show_their_source_and_change_at_runtime(admin, make_user, instance) -> None:  # type: ignore[no-untyped-def]
    listed = {s["name"]: s for s in admin.get("/api/v1/settings").json()["items"]}
    assert listed["correlation_cap"]["source"] == "default"
    assert listed["correlation_cap"]["runtime"] is True
    assert listed["database_url"]["runtime"] is False
    assert "database" in listed["database_url"]["restart_reason"]
    assert listed["secret_key"]["value"].startswith("********")
    r = admin.put("/api/v1/settings/correlation_cap", json={"value": 12})
    assert r.status_code == 200 and r.json()["value"] == 12 and r.json()["source"] == "database"
    assert Options.from_settings().cap == 12  # in force at once in this process
    with instance.db.reading() as s:
        entry = (
            s.execute(
                sa.select(AuditEntry).where(AuditEntry.model == "Setting").order_by(AuditEntry.id)
            )
            .scalars()
            .all()[-1]
        )
        assert entry.change == {"name": "correlation_cap", "value": [None, 12]}
    r = admin.delete("/api/v1/settings/correlation_cap")
    assert r.json()["source"] == "default" and r.json()["value"] == 100
    assert Options.from_settings().cap == 100


def test_setting_writes_that_are_refused(admin, make_user) -> None:  # type: ignore[no-untyped-def]
    r = admin.put("/api/v1/settings/port", json={"value": 9000})
    assert r.status_code == 409 and "SHIELDWALL_PORT" in r.json()["detail"]
    r = admin.put("/api/v1/settings/secret_key", json={"value": "x" * 40})
    assert r.status_code == 409 and "restart" in r.json()["detail"]
    assert admin.put("/api/v1/settings/nope", json={"value": 1}).status_code == 404
    r = admin.put("/api/v1/settings/ssdeep_threshold", json={"value": 101})
    assert r.status_code == 422 and r.json()["field"] == "ssdeep_threshold"
    r = admin.put("/api/v1/settings/sighting_policy", json={"value": "everyone"})
    assert r.status_code == 422
    r = admin.put("/api/v1/settings/correlation_cap", json={"value": "lots"})
    assert r.status_code == 422
    member = make_user("ALPHA", "org admin")
    assert member.api.put("/api/v1/settings/correlation_cap", json={"value": 5}).status_code == 403
    assert member.api.get("/api/v1/settings").status_code == 403
    assert admin.get("/api/v1/settings/correlation_cap").json()["value"] == 100


def test_other_processes_read_a_change_through(admin, instance) -> None:  # type: ignore[no-untyped-def]
    """A value written by another process (straight into the table here) is in force once
    this process's short cache has run out."""
    assert server_settings.effective_settings().ssdeep_threshold == 40  # cached now
    with instance.db.writing() as s:
        s.add(server_settings.RuntimeSetting(name="ssdeep_threshold", value=json.dumps(70)))
    assert server_settings.effective_settings().ssdeep_threshold == 40  # still cached
    for entry in server_settings._cache.values():
        entry.expires = 0.0  # CACHE_SECONDS have passed
    assert server_settings.effective_settings().ssdeep_threshold == 70
    assert admin.get("/api/v1/settings/ssdeep_threshold").json()["source"] == "database"


def test_a_read_only_key_downloads_samples(make_user) -> None:  # type: ignore[no-untyped-def]
    alpha = make_user("ALPHA", "publisher")
    assert alpha.api.post("/api/v1/events", json=_files_event(0)).status_code == 201
    key = alpha.api.post("/api/v1/keys", json={"read_only": True}).json()["key"]
    client = alpha.api.client
    r = client.post(
        "/attributes/downloadSample",
        headers={"Authorization": key},
        json={"request": {"hash": MD5}},
    )
    assert r.status_code == 200, r.text
    assert [s["md5"] for s in r.json()["result"]] == [MD5]
    refused = client.post(
        "/attributes/add/1",
        headers={"Authorization": key},
        json={"type": "domain", "value": "x.example"},
    )
    assert refused.status_code == 403
