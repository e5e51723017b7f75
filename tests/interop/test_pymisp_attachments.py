"""The real PyMISP against a live Shieldwall: attachment and malware-sample attributes carry
their files through every write path and come back only to those who may read them."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from pymisp import MISPAttribute, MISPEvent, MISPFeed, MISPObject, MISPOrganisation, PyMISP
from pymisp.tools import feed_meta_generator
from typer.testing import CliRunner

from shieldwall.cli.main import app as cli
from tests.feed_server import serve_directory

SAMPLE = b"MZ\x90\x00 not really a PE, but bytes all the same \x00\xff" * 20
NOTE = b"%PDF-1.4 the analyst's report\n"
MD5 = hashlib.md5(SAMPLE).hexdigest()


def _event(info: str, distribution: int = 1) -> MISPEvent:
    e = MISPEvent()
    e.info, e.distribution = info, distribution
    e.add_attribute("malware-sample", "dropper.exe", data=io.BytesIO(SAMPLE))
    e.add_attribute("attachment", "report.pdf", data=io.BytesIO(NOTE))
    return e


def _unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n, pwd=b"infected") for n in z.namelist()}


def test_files_round_trip_through_add_event_and_get_event(misp: PyMISP) -> None:
    created = misp.add_event(_event("samples"), pythonify=True)
    assert isinstance(created, MISPEvent), created
    fetched = misp.get_event(created.id, pythonify=True)
    by_type = {a.type: a for a in fetched.attributes}
    sample = by_type["malware-sample"]
    # Stored as MISP stores it: filename|md5, an encrypted zip with the file and its name.
    assert sample.value == f"dropper.exe|{MD5}"
    assert sample.malware_filename == "dropper.exe"
    assert sample.malware_binary.getvalue() == SAMPLE
    assert _unzip(sample.data.getvalue()) == {MD5: SAMPLE, f"{MD5}.filename.txt": b"dropper.exe"}
    assert by_type["attachment"].data.getvalue() == NOTE
    # The view can leave the files out, as MISP's includeAttachments:0 does.
    bare = misp._check_json_response(
        misp._prepare_request("GET", f"events/view/{created.id}/includeAttachments:0")
    )
    assert all("data" not in a for a in bare["Event"]["Attribute"])


def test_attributes_add_objects_add_and_edit_carry_files(misp: PyMISP) -> None:
    e = MISPEvent()
    e.info = "later files"
    event = misp.add_event(e, pythonify=True)
    a = MISPAttribute()
    a.from_dict(type="attachment", value="notes.txt", data=base64.b64encode(b"notes").decode())
    added = misp.add_attribute(event, a, pythonify=True)
    assert misp.get_attribute(added.id, pythonify=True).data.getvalue() == b"notes"
    obj = MISPObject("file")
    obj.add_attribute("filename", value="loader.bin")
    obj.add_attribute("malware-sample", value="loader.bin", data=io.BytesIO(SAMPLE))
    stored = misp.add_object(event, obj, pythonify=True)
    in_object = next(x for x in stored.attributes if x.type == "malware-sample")
    assert in_object.value == f"loader.bin|{MD5}"
    # events/edit adds a new file attribute through MISP's merge.
    current = misp.get_event(event.id, pythonify=True)
    current.add_attribute("attachment", "added-by-edit.txt", data=io.BytesIO(b"edited in"))
    edited = misp.update_event(current, pythonify=True)
    files = {x.value: x for x in edited.attributes if x.type == "attachment"}
    assert files["added-by-edit.txt"].data.getvalue() == b"edited in"


def test_attributes_edit_replaces_the_file(misp: PyMISP, live_url: str) -> None:
    created = misp.add_event(_event("to be replaced"), pythonify=True)
    by_type = {a.type: a for a in created.attributes}
    note = misp.get_attribute(by_type["attachment"].id, pythonify=True)
    before = note.timestamp
    # Sending the file it already has back (PyMISP sends `data` with the whole attribute)
    # changes nothing.
    same = misp.update_attribute(note, pythonify=True)
    assert same.timestamp == before
    assert misp.get_attribute(note.id, pythonify=True).data.getvalue() == NOTE
    note.data = io.BytesIO(b"%PDF-1.4 the second version\n")
    misp.update_attribute(note, pythonify=True)
    assert misp.get_attribute(note.id, pythonify=True).data.getvalue() == (
        b"%PDF-1.4 the second version\n"
    )
    # A new malware sample: packed as MISP packs it, and the value follows the new md5.
    sample = misp.get_attribute(by_type["malware-sample"].id, pythonify=True)
    other = b"another binary altogether" * 30
    sample.data = io.BytesIO(other)
    misp.update_attribute(
        {"id": sample.id, "data": base64.b64encode(other).decode(), "encrypt": True}
    )
    again = misp.get_attribute(sample.id, pythonify=True)
    other_md5 = hashlib.md5(other).hexdigest()
    assert again.value == f"dropper.exe|{other_md5}"
    assert again.malware_binary.getvalue() == other
    # Bad base64 is refused naming the field, and the stored file is kept.
    r = httpx.post(
        f"{live_url}/attributes/edit/{note.id}",
        json={"Attribute": {"data": "not base64!"}},
        headers={"Authorization": misp.key, "Accept": "application/json"},
    )
    assert r.status_code == 422 and "data" in r.text
    assert misp.get_attribute(note.id, pythonify=True).data.getvalue() == (
        b"%PDF-1.4 the second version\n"
    )


def test_rest_search_with_attachments(misp: PyMISP) -> None:
    created = misp.add_event(_event("searchable"), pythonify=True)
    plain = misp.search(controller="attributes", eventid=created.id)
    assert all("data" not in a for a in plain["Attribute"])
    found = misp.search(controller="attributes", eventid=created.id, with_attachments=True)
    datas = {a["type"]: base64.b64decode(a["data"]) for a in found["Attribute"]}
    assert datas["attachment"] == NOTE and _unzip(datas["malware-sample"])[MD5] == SAMPLE
    events = misp.search(eventid=created.id, with_attachments=True, pythonify=True)
    sample = next(a for a in events[0].attributes if a.type == "malware-sample")
    assert sample.malware_binary.getvalue() == SAMPLE
    no_files = misp.search(eventid=created.id)
    assert all("data" not in a for a in no_files[0]["Event"]["Attribute"])


def test_download_paths_and_cross_organisation_access(
    misp: PyMISP, misp_as: Callable[[str, str], PyMISP], live_url: str
) -> None:
    alpha = misp_as("ALPHA", "user")
    beta = misp_as("BETA", "user")
    private = alpha.add_event(_event("alpha only", distribution=0), pythonify=True)
    shared = alpha.add_event(_event("community", distribution=1), pythonify=True)
    p_sample = next(a for a in private.attributes if a.type == "malware-sample")
    s_sample = next(a for a in shared.attributes if a.type == "malware-sample")
    s_note = next(a for a in shared.attributes if a.type == "attachment")

    def get(who: PyMISP, path: str) -> httpx.Response:
        return httpx.get(f"{live_url}/{path}", headers={"Authorization": who.key})

    got = get(beta, f"attributes/download/{s_sample.id}")
    assert got.status_code == 200 and got.headers["content-type"] == "application/zip"
    assert 'filename="dropper.exe.zip"' in got.headers["content-disposition"]
    assert _unzip(got.content)[MD5] == SAMPLE
    note = get(beta, f"attributes/download/{s_note.uuid}")
    assert note.status_code == 200 and note.content == NOTE
    # Another organisation never gets the file of an event it may not read, on any path.
    hidden = get(beta, f"attributes/download/{p_sample.id}")
    assert hidden.status_code == 404 and hidden.json()["success"] is False
    assert beta.get_attribute(p_sample.id)["errors"][0] == 404
    assert get(alpha, f"attributes/download/{p_sample.id}").status_code == 200
    samples = beta.direct_call("attributes/downloadSample", {"request": {"hash": MD5}})
    assert [s["event_id"] for s in samples["result"]] == [str(shared.id)]
    assert _unzip(base64.b64decode(samples["result"][0]["base64"]))[MD5] == SAMPLE
    by_event = beta.direct_call(
        "attributes/downloadSample", {"request": {"eventID": private.id, "allSamples": 1}}
    )
    assert by_event == {"message": "No hits with the given parameters."}
    mine = alpha.direct_call(
        "attributes/downloadSample", {"request": {"hash": MD5, "allSamples": 1}}
    )
    assert len(mine["result"]) == 1  # one entry per sample, whichever event holds it
    leaked = beta.search(controller="attributes", eventid=private.id, with_attachments=True)
    assert leaked["Attribute"] == []


def test_bad_files_get_misp_shaped_errors(misp: PyMISP) -> None:
    e = MISPEvent()
    e.info = "bad files"
    event = misp.add_event(e, pythonify=True)
    status, body = misp.direct_call(
        f"attributes/add/{event.id}",
        {"type": "attachment", "value": "x.bin", "data": "not base64 at all!"},
    )["errors"]
    assert status == 422 and body["errors"] == {"data": ["data is not valid base64"]}
    status, body = misp.direct_call(
        f"attributes/add/{event.id}",
        {"type": "ip-dst", "value": "192.0.2.1", "data": base64.b64encode(b"x").decode()},
    )["errors"]
    assert status == 422 and "data" in body["errors"]
    assert misp.set_server_setting("Shieldwall.attachment_max_mb", 1)["success"] is True
    big = base64.b64encode(b"\0" * (1024 * 1024 + 1)).decode()
    status, body = misp.direct_call(
        f"attributes/add/{event.id}", {"type": "attachment", "value": "big.bin", "data": big}
    )["errors"]
    assert status == 413 and "attachment_max_mb" in body["message"]
    assert misp.get_event(event.id, pythonify=True).attributes == []
    status, body = misp.direct_call("attributes/downloadSample", {"request": {"hash": "abc"}})[
        "errors"
    ]
    assert status == 422 and "hash" in body["errors"]


def test_files_travel_through_feeds_out_and_in_and_event_import(
    misp: PyMISP, make_user: Any, live_url: str, tmp_path: Path
) -> None:
    publisher = make_user("ALPHA", "publisher")
    alpha = PyMISP(live_url, publisher.api.key, ssl=False)
    created = alpha.add_event(_event("to the feed"), pythonify=True)
    assert alpha.publish(created)["success"] is True
    out = tmp_path / "export"
    out.mkdir()
    result = CliRunner().invoke(cli, ["feed", "export", str(out), "--user", publisher.email, "-q"])
    assert result.exit_code == 0, result.output
    loaded = MISPEvent()
    loaded.load_file(str(out / f"{created.uuid}.json"))
    by_type = {a.type: a for a in loaded.attributes}
    assert by_type["malware-sample"].malware_binary.getvalue() == SAMPLE
    assert by_type["attachment"].data.getvalue() == NOTE

    # The same file, imported with `shieldwall event import` after the event is gone.
    assert misp.delete_event(created.id)["success"] is True
    result = CliRunner().invoke(
        cli, ["event", "import", "--quiet", str(out / f"{created.uuid}.json")]
    )
    assert result.exit_code == 0, result.output
    back = misp.get_event(created.uuid, pythonify=True)
    sample = next(a for a in back.attributes if a.type == "malware-sample")
    assert sample.value == f"dropper.exe|{MD5}" and sample.malware_binary.getvalue() == SAMPLE

    # A feed written by PyMISP's own generator: raw files, packed on the way in.
    root = tmp_path / "feed"
    root.mkdir()
    fresh = MISPEvent()
    fresh.info, fresh.published = "feed with files", True
    source = MISPOrganisation()
    source.name, source.uuid = "SAMPLE-SOURCE", "5cf66e53-b5f8-43e7-be9a-49880a3b4632"
    fresh.Orgc = source
    fresh.add_attribute("malware-sample", "feed.bin", data=io.BytesIO(SAMPLE))
    fresh.add_attribute("attachment", "feed-note.txt", data=io.BytesIO(NOTE))
    (root / f"{fresh.uuid}.json").write_text(json.dumps(fresh.to_feed()))
    feed_meta_generator(root)
    with serve_directory(root) as (base, _):
        feed = MISPFeed()
        feed.name, feed.provider, feed.url = "files feed", "test", base
        feed.source_format, feed.enabled, feed.distribution = "misp", True, 1
        feed = misp.add_feed(feed, pythonify=True)
        fetched = misp.fetch_feed(feed.id)
        assert (fetched["created"], fetched["failed"]) == (1, 0), fetched
    got = misp.get_event(fresh.uuid, pythonify=True)
    files = {a.type: a for a in got.attributes}
    assert files["malware-sample"].value == f"feed.bin|{MD5}"
    assert files["malware-sample"].malware_binary.getvalue() == SAMPLE
    assert files["attachment"].data.getvalue() == NOTE


def test_a_proposal_with_a_file_is_refused_not_stripped(
    misp_as: Callable[[str, str], PyMISP],
) -> None:
    alpha = misp_as("ALPHA", "user")
    beta = misp_as("BETA", "user")
    e = MISPEvent()
    e.info, e.distribution = "others may propose", 1
    e.add_attribute("domain", "proposed.example")
    event = alpha.add_event(e, pythonify=True)
    sample = MISPAttribute()
    sample.from_dict(type="malware-sample", value="dropper.exe", data=io.BytesIO(SAMPLE))
    # PyMISP turns the refused add into a proposal, which cannot carry the file.
    status, body = beta.add_attribute(event, sample)["errors"]
    assert status == 422 and "proposal carries no file" in json.dumps(body)
    assert alpha.get_event(event.id, pythonify=True).shadow_attributes == []
