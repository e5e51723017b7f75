"""The real PyMISP against a live Shieldwall: feeds made by PyMISP's own feed generator,
served over HTTP and fetched incrementally; the feed calls; freetext import; and
`shieldwall feed export` read back by PyMISP."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pymisp import MISPAttribute, MISPEvent, MISPFeed, MISPOrganisation, MISPTag, PyMISP
from pymisp.tools import feed_meta_generator
from typer.testing import CliRunner

from shieldwall.audit.models import AuditEntry
from shieldwall.cli.main import app as cli
from tests.feed_server import serve_directory

SOURCE_ORG = ("CIRCL-LIKE", "5cf66e53-b5f8-43e7-be9a-49880a3b4631")


def _feed_event(info: str, values: list[tuple[str, str]], ts: int) -> MISPEvent:
    e = MISPEvent()
    e.info = info
    org = MISPOrganisation()
    org.name, org.uuid = SOURCE_ORG
    e.Orgc = org
    e.published = True
    e.timestamp = ts
    e.add_tag('osint:source-type="blog-post"')
    for t, v in values:
        a = e.add_attribute(t, v)
        a.timestamp = ts
    return e


def _write(root: Path, *events: MISPEvent) -> None:
    """The feed as PyMISP's generator writes it: one file per event, then the manifest and
    hashes.csv from those files."""
    for e in events:
        (root / f"{e.uuid}.json").write_text(json.dumps(e.to_feed()))
    feed_meta_generator(root)


def _misp_feed(url: str, name: str = "pymisp feed") -> MISPFeed:
    f = MISPFeed()
    f.name, f.provider, f.url = name, "test provider", url
    f.source_format, f.enabled, f.distribution = "misp", True, 1
    return f


def test_misp_feed_fetched_then_fetched_incrementally(misp: PyMISP, tmp_path: Path) -> None:
    root = tmp_path / "feed"
    root.mkdir()
    alpha = _feed_event(
        "alpha campaign", [("ip-dst", "203.0.113.10"), ("domain", "a.example.com")], 1_700_000_000
    )
    bravo = _feed_event(
        "bravo campaign", [("md5", "d41d8cd98f00b204e9800998ecf8427e")], 1_700_000_100
    )
    _write(root, alpha, bravo)
    with serve_directory(root) as (base, requested):
        feed = misp.add_feed(_misp_feed(base), pythonify=True)
        assert isinstance(feed, MISPFeed), feed
        assert (feed.source_format, feed.enabled, feed.url) == ("misp", True, base)
        first = misp.fetch_feed(feed.id)
        assert (first["created"], first["updated"], first["success"]) == (2, 0, True), first
        assert sorted(requested) == sorted(
            ["/manifest.json", f"/{alpha.uuid}.json", f"/{bravo.uuid}.json"]
        )
        got = misp.get_event(alpha.uuid, pythonify=True)
        assert {a.value for a in got.attributes} == {"203.0.113.10", "a.example.com"}
        assert got.Orgc.uuid == SOURCE_ORG[1] and got.Org.name == "HOST-CERT"
        assert got.published is True and int(got.distribution) == 1
        assert 'osint:source-type="blog-post"' in [t.name for t in got.tags]

        # The source edits alpha (a newer timestamp) and adds charlie; bravo is unchanged.
        requested.clear()
        alpha.timestamp = 1_700_000_500
        ip = next(a for a in alpha.attributes if a.value == "203.0.113.10")
        ip.comment, ip.timestamp = "confirmed C2", 1_700_000_500
        extra = alpha.add_attribute("url", "https://a.example.com/payload")
        extra.timestamp = 1_700_000_500
        charlie = _feed_event("charlie campaign", [("ip-src", "198.51.100.66")], 1_700_000_600)
        _write(root, alpha, charlie)
        second = misp.fetch_feed(feed.id)
        assert (second["created"], second["updated"], second["failed"]) == (1, 1, 0), second
        assert requested == ["/manifest.json", f"/{alpha.uuid}.json", f"/{charlie.uuid}.json"]
        third = misp.fetch_feed(feed.id)
        assert (third["created"], third["updated"]) == (0, 0)
        assert requested[-1] == "/manifest.json"

    edited = misp.get_event(alpha.uuid, pythonify=True)
    values = {a.value: a for a in edited.attributes}
    assert set(values) == {"203.0.113.10", "a.example.com", "https://a.example.com/payload"}
    assert values["203.0.113.10"].comment == "confirmed C2"
    assert edited.published is True
    assert [a.value for a in misp.get_event(charlie.uuid, pythonify=True).attributes] == [
        "198.51.100.66"
    ]
    untouched = misp.get_event(bravo.uuid, pythonify=True)
    assert [a.value for a in untouched.attributes] == ["d41d8cd98f00b204e9800998ecf8427e"]
    feeds = misp.feeds(pythonify=True)
    assert [f.name for f in feeds] == ["pymisp feed"]
    assert feeds[0].status == "ok" and isinstance(feeds[0].settings, dict)
    assert int(feeds[0].last_fetched) > 0


def test_feed_calls(misp: PyMISP, tmp_path: Path) -> None:
    text = tmp_path / "list.txt"
    text.write_text("203.0.113.99\n")
    f = MISPFeed()
    f.name, f.provider, f.url = "local freetext", "me", str(text)
    added = misp.add_feed(f, pythonify=True)
    # MISP's defaults for a feed added through the API: freetext, disabled, org only.
    assert (added.source_format, added.enabled, int(added.distribution)) == ("freetext", False, 0)
    assert added.input_source == "local"
    assert misp.get_feed(added.id, pythonify=True).name == "local freetext"
    status, body = misp.fetch_feed(added.id)["errors"]
    assert status == 409 and "disabled" in body["message"]
    assert misp.enable_feed(added.id, pythonify=True).enabled is True
    assert misp.fetch_feed(added.id)["created"] == 1
    # What the server sent goes back unchanged but for the edit (settings included).
    fetched = misp.get_feed(added.id, pythonify=True)
    fetched.provider = "someone else"
    fetched.settings["csv"]["skip_lines"] = "2"
    updated = misp.update_feed(fetched, pythonify=True)
    assert updated.provider == "someone else" and updated.enabled is True
    assert updated.settings["csv"] == {
        "value": "1",
        "delimiter": ",",
        "type_column": "",
        "default_type": "",
        "skip_lines": "2",
    }
    assert misp.disable_feed(added.id, pythonify=True).enabled is False
    status, body = misp.enable_feed_cache(added.id)["errors"]
    assert status == 422 and "no feed cache" in body["message"]
    for answer in (misp.cache_all_feeds(), misp.cache_feed(added.id), misp.cache_misp_feeds()):
        assert answer["success"] is True and "no feed cache" in answer["message"]
    for refused in (misp.compare_feeds(), misp.load_default_feeds()):
        status, body = refused["errors"]
        assert status == 400 and body["success"] is False
    assert misp.fetch_all_feeds()["result"].startswith("No feed is enabled")
    assert misp.delete_feed(added.id)["success"] is True
    assert misp.get_feed(added.id)["errors"][0] == 404


def test_bad_feed_input_is_a_misp_error(misp: PyMISP, tmp_path: Path) -> None:
    bad = _misp_feed("ftp://feeds.example.com/misp")
    status, body = misp.add_feed(bad)["errors"]
    assert status == 422 and "url" in body["errors"] and body["success"] is False
    missing = _misp_feed(str(tmp_path / "nowhere"))
    assert misp.add_feed(missing)["errors"][0] == 422
    csv_feed = _misp_feed("https://feeds.example.com/list.csv")
    csv_feed.source_format, csv_feed.distribution = "csv", 5
    status, body = misp.add_feed(csv_feed)["errors"]
    assert status == 422 and "distribution" in body["errors"]
    wrong_format = _misp_feed("https://feeds.example.com/x")
    wrong_format.source_format = "stix"
    assert misp.add_feed(wrong_format)["errors"][0] == 422
    assert misp.update_feed(_misp_feed("https://x.example.com"), feed_id=999999)["errors"][0] == 404
    assert misp.fetch_feed(999999)["errors"][0] == 404


def test_a_non_admin_cannot_manage_feeds(
    misp: PyMISP, misp_as: Callable[[str, str], PyMISP]
) -> None:
    feed = misp.add_feed(_misp_feed("https://feeds.example.com/misp"), pythonify=True)
    org_admin = misp_as("ALPHA", "org admin")
    for answer in (
        org_admin.feeds(),
        org_admin.get_feed(feed.id),
        org_admin.add_feed(_misp_feed("https://feeds.example.com/other")),
        org_admin.enable_feed(feed.id),
        org_admin.delete_feed(feed.id),
        org_admin.fetch_feed(feed.id),
        org_admin.cache_all_feeds(),
    ):
        assert answer["errors"][0] == 403, answer
    assert misp.get_feed(feed.id, pythonify=True).name == "pymisp feed"


def test_freetext_import(misp: PyMISP, misp_as: Callable[[str, str], PyMISP]) -> None:
    event = MISPEvent()
    event.info = "freetext"
    event = misp.add_event(event, pythonify=True)
    text = (
        "C2 hxxp://cdn[.]example[.]com/gate.php at 203.0.113.200:8080, sender "
        "ops[@]example.net, hash 44d88612fea8a8f36de82e1278abb02f, CVE-2024-3400. "
        "Again 203.0.113.200:8080"
    )
    meta = misp.freetext(event, text, returnMetaAttributes=True)
    assert [(m["default_type"], m["value"]) for m in meta] == [
        ("url", "http://cdn.example.com/gate.php"),
        ("ip-dst|port", "203.0.113.200|8080"),
        ("email-src", "ops@example.net"),
        ("md5", "44d88612fea8a8f36de82e1278abb02f"),
        ("vulnerability", "CVE-2024-3400"),
    ]
    assert "ip-src|port" in meta[1]["types"]
    assert misp.get_event(event.id, pythonify=True).attributes == []
    added = misp.freetext(event, text, adhereToWarninglists=True, pythonify=True)
    assert all(isinstance(a, MISPAttribute) for a in added)
    assert [(a.type, a.value) for a in added] == [(m["default_type"], m["value"]) for m in meta]
    stored = misp.get_event(event.id, pythonify=True)
    assert len(stored.attributes) == 5
    assert {a.type: a.to_ids for a in stored.attributes}["vulnerability"] is False
    assert misp.freetext(event, text) == []  # everything is there already
    assert misp.freetext(999999, text)["errors"][0] == 404
    status, body = misp.freetext(event, text, distribution=7)["errors"]
    assert status == 422 and "distribution" in body["errors"]
    status, _ = misp.freetext(event, "   ")["errors"]
    assert status == 422
    other = misp_as("BETA", "user")
    assert other.freetext(event, "203.0.113.201")["errors"][0] in (403, 404)


def _publish(
    api: PyMISP, info: str, value: str, distribution: int, tags: tuple[str, ...] = ()
) -> MISPEvent:
    e = MISPEvent()
    e.info, e.distribution = info, distribution
    e.add_attribute("domain", value)
    for t in tags:
        e.add_tag(t)
    created = api.add_event(e, pythonify=True)
    assert isinstance(created, MISPEvent), created
    assert api.publish(created)["success"] is True
    return created


def test_feed_export_is_read_back_by_pymisp(
    misp: PyMISP, live_url: str, make_user: Any, instance: Any, tmp_path: Path
) -> None:
    for name in ("tlp:green", "tlp:red", 'workflow:state="draft"'):
        tag = MISPTag()
        tag.name = name
        misp.add_tag(tag)
    alpha_user = make_user("ALPHA", "publisher")
    beta_user = make_user("BETA", "publisher")
    alpha = PyMISP(live_url, alpha_user.api.key, ssl=False)
    beta = PyMISP(live_url, beta_user.api.key, ssl=False)
    shared = _publish(alpha, "alpha shared", "shared.example.com", 1, ("tlp:green",))
    own_private = _publish(alpha, "alpha private", "alpha-only.example.com", 0)
    other_private = _publish(beta, "beta private", "beta-only.example.com", 0)
    beta_shared = _publish(beta, "beta shared", "beta-shared.example.com", 1)
    red = _publish(alpha, "alpha red", "red.example.com", 0, ("tlp:red",))
    draft = MISPEvent()
    draft.info = "alpha draft"
    draft.add_attribute("domain", "draft.example.com")
    draft = alpha.add_event(draft, pythonify=True)
    # A local tag never leaves the instance.
    alpha.tag(shared, 'workflow:state="draft"', local=True)
    alpha.publish(shared)

    out = tmp_path / "export"
    (out).mkdir()
    stale = out / "00000000-0000-4000-8000-000000000000.json"
    stale.write_text("{}")
    result = CliRunner().invoke(
        cli, ["feed", "export", str(out), "--user", alpha_user.email, "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert "3 events" in result.stdout and "1 withheld" in result.stdout
    assert not stale.exists()

    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest) == {shared.uuid, own_private.uuid, beta_shared.uuid}
    assert other_private.uuid not in manifest and red.uuid not in manifest
    assert draft.uuid not in manifest
    assert not (out / f"{other_private.uuid}.json").exists()
    entry = manifest[shared.uuid]
    assert entry["Orgc"]["name"] == "ALPHA" and entry["info"] == "alpha shared"
    assert [t["name"] for t in entry["Tag"]] == ["tlp:green"]
    assert isinstance(entry["timestamp"], int)

    values = {}
    for uuid in manifest:
        loaded = MISPEvent()
        loaded.load_file(str(out / f"{uuid}.json"))
        assert loaded.uuid == uuid and loaded.published is True
        assert loaded.manifest[uuid]["timestamp"] == manifest[uuid]["timestamp"]
        values[uuid] = [a.value for a in loaded.attributes]
        raw = json.loads((out / f"{uuid}.json").read_text())["Event"]
        assert not {"id", "org_id", "distribution", "Org"} & set(raw), raw
    assert values == {
        shared.uuid: ["shared.example.com"],
        own_private.uuid: ["alpha-only.example.com"],
        beta_shared.uuid: ["beta-shared.example.com"],
    }
    exported = MISPEvent()
    exported.load_file(str(out / f"{shared.uuid}.json"))
    assert [t.name for t in exported.tags] == ["tlp:green"]
    hashes = (out / "hashes.csv").read_text().splitlines()
    assert sorted(hashes) == sorted(
        f"{hashlib.md5(v.encode()).hexdigest()},{u}" for u, vs in values.items() for v in vs
    )
    # What BETA may see is another feed: its own private event, not ALPHA's.
    beta_out = tmp_path / "beta"
    result = CliRunner().invoke(
        cli, ["feed", "export", str(beta_out), "--user", beta_user.email, "-q"]
    )
    assert result.exit_code == 0, result.output
    assert set(json.loads((beta_out / "manifest.json").read_text())) == {
        shared.uuid,
        other_private.uuid,
        beta_shared.uuid,
    }
    with instance.db.reading() as s:
        assert s.execute(sa.select(AuditEntry.id).where(AuditEntry.model == "Feed")).first() is None


def test_feed_export_enforces_warninglists_when_asked(misp: PyMISP, tmp_path: Path) -> None:
    e = MISPEvent()
    e.info, e.distribution = "resolver traffic", 1
    for t, v in (("ip-dst", "8.8.8.8"), ("ip-dst", "192.0.2.80"), ("domain", "8.8.8.8.example")):
        e.add_attribute(t, v)
    event = misp.add_event(e, pythonify=True)
    assert isinstance(event, MISPEvent), event
    assert misp.publish(event)["success"] is True
    resolvers = next(
        w["Warninglist"]
        for w in misp.warninglists()
        if w["Warninglist"]["name"] == "List of known IPv4 public DNS resolvers"
    )
    assert misp.enable_warninglist(resolvers["id"])["saved"] is True

    def export(name: str, *extra: str) -> tuple[list[str], list[str]]:
        out = tmp_path / name
        args = ["feed", "export", str(out), "--user", "admin@host.test", "-q", *extra]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        loaded = MISPEvent()
        loaded.load_file(str(out / f"{event.uuid}.json"))
        hashes = (out / "hashes.csv").read_text().split()
        return sorted(a.value for a in loaded.attributes), hashes

    values, hashes = export("all")
    assert values == ["192.0.2.80", "8.8.8.8", "8.8.8.8.example"] and len(hashes) == 3
    values, hashes = export("enforced", "--enforce-warninglist")
    assert values == ["192.0.2.80", "8.8.8.8.example"]
    assert sorted(hashes) == sorted(
        f"{hashlib.md5(v.encode()).hexdigest()},{event.uuid}" for v in values
    )
