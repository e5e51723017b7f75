"""The indicator lifecycle through the native API, MISP's restSearch (through the test
client), the MISP feed export and the CLI: settings, attribute views, expired and
expiring lists under the access rules, and to_ids exports without expired indicators."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from shieldwall.cli.main import app as cli
from shieldwall.clock import set_clock

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START
        set_clock(lambda: self.now)

    def days(self, n: float) -> None:
        self.now = START + timedelta(days=n)


@pytest.fixture
def clock() -> Iterator[Clock]:
    c = Clock()
    yield c
    set_clock(None)


def _event(api: Any, attrs: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    r = api.post(
        "/api/v1/events",
        json={"info": "lifecycle", "distribution": 1, "published": True, "attributes": attrs, **kw},
    )
    assert r.status_code == 201, r.text
    return r.json()


def _by_value(event: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["value"]: a for a in event["attributes"]}


def _expire(api: Any, **params: Any) -> dict[str, Any]:
    r = api.post("/api/v1/lifecycle/expire", params=params)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def world(admin, make_user, clock: Clock) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Today: an IP, a domain and a non-IDS IP shared with the community, and an
    organisation-only IP of another organisation. Then 50 days pass (IPs live 45)."""
    ev = _event(
        admin,
        [
            {"type": "ip-dst", "value": "192.0.2.10", "to_ids": True},
            {"type": "domain", "value": "live.example", "to_ids": True},
            {"type": "ip-dst", "value": "192.0.2.11", "to_ids": False},
        ],
    )
    other = make_user("OTHER-ORG", "publisher")
    private = _event(
        other.api, [{"type": "ip-dst", "value": "203.0.113.5", "to_ids": True}], distribution=0
    )
    clock.days(50)
    return {"event": _by_value(ev), "uuid": ev["uuid"], "other": other, "private": private}


# ---------------------------------------------------------------- settings


def test_settings_list_get_change_reset(admin, make_user) -> None:  # type: ignore[no-untyped-def]
    items = admin.get("/api/v1/lifecycle/settings").json()["items"]
    assert items[0]["attribute_type"] == "default" and items[0]["source"] == "built-in"
    by_type = {i["attribute_type"]: i for i in items}
    assert by_type["ip-dst"]["lifetime_days"] < by_type["domain"]["lifetime_days"]
    one = admin.get("/api/v1/lifecycle/settings/filename|sha512/256").json()
    assert one["lifetime_days"] == by_type["sha256"]["lifetime_days"]
    assert admin.get("/api/v1/lifecycle/settings/comment").json()["source"] == "default"
    assert admin.get("/api/v1/lifecycle/settings/nope").status_code == 404

    user = make_user("READERS").api
    assert user.get("/api/v1/lifecycle/settings").status_code == 200
    r = user.patch("/api/v1/lifecycle/settings", json={"ip-dst": {"lifetime_days": 10}})
    assert r.status_code == 403

    r = admin.patch(
        "/api/v1/lifecycle/settings",
        json={"ip-dst": {"lifetime_days": 10, "threshold": 50}, "url": {"decay_speed": 3}},
    )
    assert r.status_code == 200, r.text
    got = {i["attribute_type"]: i for i in r.json()["items"]}
    assert got["ip-dst"]["lifetime_days"] == 10 and got["ip-dst"]["source"] == "site"
    assert got["url"]["decay_speed"] == 3 and got["url"]["lifetime_days"] == 90

    for body, field in [
        ({"ip-dst": {"lifetime_days": 0}}, "ip-dst.lifetime_days"),
        ({"ip-dst": {"threshold": 101}}, "ip-dst.threshold"),
        ({"ip-dst": {"false_positive_penalty": 2}}, "ip-dst.false_positive_penalty"),
        ({"ip-dst": {"speed": 2}}, "ip-dst.speed"),
        ({"domain": {"threshold": 5}, "bogus": {"threshold": 5}}, "attribute_type"),
        ({}, "attribute_type"),
    ]:
        r = admin.patch("/api/v1/lifecycle/settings", json=body)
        assert r.status_code == 422 and r.json()["field"] == field, (body, r.text)
    # Nothing of a refused change landed.
    assert admin.get("/api/v1/lifecycle/settings/domain").json()["source"] == "built-in"

    r = admin.delete("/api/v1/lifecycle/settings/ip-dst")
    assert r.status_code == 200 and r.json()["source"] == "built-in"
    assert r.json()["lifetime_days"] == by_type["ip-dst"]["lifetime_days"]
    assert user.delete("/api/v1/lifecycle/settings/url").status_code == 403


# ---------------------------------------------------------------- views and lists


def test_attribute_view_carries_the_lifecycle(admin, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    ev = _by_value(_event(admin, [{"type": "ip-dst", "value": "192.0.2.20"}]))
    ref = ev["192.0.2.20"]["uuid"]
    fresh = admin.get(f"/api/v1/attributes/{ref}").json()["lifecycle"]
    assert fresh["score"] == fresh["base_score"] == 80 and not fresh["decayed"]
    assert not fresh["expired"] and fresh["expired_at"] is None
    assert datetime.fromisoformat(fresh["expires_at"]) == START + timedelta(days=45)
    clock.days(20)
    later = admin.get(f"/api/v1/attributes/{ref}").json()["lifecycle"]
    assert 0 < later["score"] < fresh["score"]
    assert admin.post("/api/v1/sightings", json={"attribute": ref, "type": 1}).status_code == 201
    marked = admin.get(f"/api/v1/attributes/{ref}").json()["lifecycle"]
    assert marked["false_positives"] == 1
    assert marked["score"] == pytest.approx(later["score"] / 2, abs=1e-3)
    assert admin.post("/api/v1/sightings", json={"attribute": ref, "type": 0}).status_code == 201
    again = admin.get(f"/api/v1/attributes/{ref}").json()["lifecycle"]
    assert again["score"] == 80 and again["false_positives"] == 0
    assert admin.post("/api/v1/sightings", json={"attribute": ref, "type": 2}).status_code == 201
    ended = admin.get(f"/api/v1/attributes/{ref}").json()
    assert ended["lifecycle"]["expired"] and ended["lifecycle"]["score"] == 0
    assert ended["expired_at"] == ended["lifecycle"]["expired_at"] is not None


def test_expired_and_expiring_lists_follow_the_access_rules(admin, world, make_user) -> None:  # type: ignore[no-untyped-def]
    reader = make_user("THIRD-ORG").api
    # Nothing is marked before the pass; the expiring list already shows what is due.
    assert admin.get("/api/v1/lifecycle/expired").json()["items"] == []
    assert reader.post("/api/v1/lifecycle/expire").status_code == 403
    dry = _expire(admin, dry_run=True)
    assert dry == {"expired": 3, "revived": 0, "dry_run": True}
    assert admin.get("/api/v1/lifecycle/expired").json()["items"] == []
    assert _expire(admin) == {"expired": 3, "revived": 0, "dry_run": False}

    def values(api: Any, url: str, **params: Any) -> set[str]:
        r = api.get(url, params=params)
        assert r.status_code == 200, r.text
        return {a["value"] for a in r.json()["items"]}

    ips = {"192.0.2.10", "192.0.2.11"}
    assert values(admin, "/api/v1/lifecycle/expired") == ips | {"203.0.113.5"}
    assert values(reader, "/api/v1/lifecycle/expired") == ips
    assert values(world["other"].api, "/api/v1/lifecycle/expired") == ips | {"203.0.113.5"}
    page = admin.get("/api/v1/lifecycle/expired", params={"limit": 1}).json()
    assert len(page["items"]) == 1 and page["next"] == page["items"][0]["id"]
    # The domain lives 180 days: 130 left.
    assert values(admin, "/api/v1/lifecycle/expiring", within_days=129) == set()
    assert values(admin, "/api/v1/lifecycle/expiring", within_days=131) == {"live.example"}
    r = admin.get("/api/v1/lifecycle/expiring", params={"within_days": 0})
    assert r.status_code == 422 and r.json()["field"] == "within_days"


# ---------------------------------------------------------------- MISP restSearch


def _search(api: Any, body: dict[str, Any], controller: str = "attributes") -> Any:
    return api.post(f"/{controller}/restSearch", json=body)


def test_to_ids_exports_leave_expired_indicators_out(admin, world, make_user) -> None:  # type: ignore[no-untyped-def]
    _expire(admin)
    base = {"to_ids": 1, "type": "ip-dst"}
    # The lifecycle mark, not the clock, decides: the unmarked private IP is still in.
    text = _search(admin, {**base, "returnFormat": "text"}).text.split()
    assert text == []
    assert _search(admin, {**base, "returnFormat": "text", "includeExpired": 1}).text.split() == [
        "192.0.2.10",
        "203.0.113.5",
    ]
    rows = list(csv.DictReader(io.StringIO(_search(admin, {**base, "returnFormat": "csv"}).text)))
    assert rows == []
    as_json = _search(admin, {**base, "returnFormat": "json"}).json()["response"]["Attribute"]
    assert as_json == []
    wanted = _search(admin, {**base, "includeExpired": True}).json()["response"]["Attribute"]
    assert {a["value"] for a in wanted} == {"192.0.2.10", "203.0.113.5"}
    # Without to_ids, a search is not an export: expired indicators are found.
    found = _search(admin, {"type": "ip-dst"}).json()["response"]["Attribute"]
    assert {a["value"] for a in found} == {"192.0.2.10", "192.0.2.11", "203.0.113.5"}
    # events/restSearch with to_ids: events holding a live to_ids attribute, their flat
    # exports without the expired ones.
    events = _search(admin, {"to_ids": 1, "returnFormat": "text"}, "events").text.split()
    assert events == ["live.example"]
    # The access rules still hold with includeExpired.
    reader = world["other"].api
    theirs = _search(reader, {**base, "includeExpired": 1, "returnFormat": "text"}).text.split()
    assert theirs == ["192.0.2.10", "203.0.113.5"]
    outsider = _search(
        make_user("THIRD-ORG").api, {**base, "includeExpired": 1, "returnFormat": "text"}
    )
    assert outsider.text.split() == ["192.0.2.10"]


def test_decay_score_parameters(admin, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    _event(
        admin,
        [
            {"type": "ip-dst", "value": "192.0.2.30", "to_ids": True},
            {"type": "sha256", "value": "b" * 64, "to_ids": True},
        ],
    )
    clock.days(20)  # the IP has decayed below 30 (45 days, decay speed 2); the hash has not
    r = _search(admin, {"includeDecayScore": 1})
    assert r.status_code == 200, r.text
    attrs = {a["value"]: a for a in r.json()["response"]["Attribute"]}
    ip, sha = attrs["192.0.2.30"]["decay_score"][0], attrs["b" * 64]["decay_score"][0]
    assert ip["DecayingModel"] == {"id": "1", "name": "Shieldwall lifecycle"}
    assert ip["decayed"] and ip["score"] < 30 and ip["base_score"] == 80
    assert not sha["decayed"] and sha["score"] > ip["score"]
    kept = _search(admin, {"excludeDecayed": 1}).json()["response"]["Attribute"]
    assert [a["value"] for a in kept] == ["b" * 64] and "decay_score" in kept[0]
    text = _search(admin, {"excludeDecayed": 1, "returnFormat": "text"}).text.split()
    assert text == ["b" * 64]
    # score lowers the threshold for this request; modelOverrides change the model.
    low = _search(admin, {"excludeDecayed": 1, "score": 5}).json()["response"]["Attribute"]
    assert len(low) == 2
    longer = _search(admin, {"excludeDecayed": 1, "modelOverrides": {"lifetime": 3650}})
    assert len(longer.json()["response"]["Attribute"]) == 2
    full = _search(admin, {"includeDecayScore": 1, "includeFullModel": 1, "decayingModel": [1]})
    model = full.json()["response"]["Attribute"][0]["decay_score"][0]["DecayingModel"]
    assert model["parameters"]["lifetime"] == 45 and model["formula"] == "Polynomial"
    events = _search(admin, {"includeDecayScore": 1}, "events").json()["response"]
    assert all("decay_score" in a for a in events[0]["Event"]["Attribute"])

    for body, field in [
        ({"includeDecayScore": 1, "decayingModel": 7}, "decayingModel"),
        ({"includeDecayScore": 1, "modelOverrides": {"lifetime": 0}}, "modelOverrides.lifetime"),
        ({"includeDecayScore": 1, "modelOverrides": {"base": 1}}, "modelOverrides.base"),
        ({"includeDecayScore": 1, "modelOverrides": "nope"}, "modelOverrides"),
        ({"excludeDecayed": 1, "score": "high"}, "score"),
        ({"score": 20}, "score"),
    ]:
        r = _search(admin, body)
        assert 400 <= r.status_code < 500, (body, r.text)
        assert field in r.text, (body, r.text)
    r = _search(admin, {"excludeDecayed": 1}, "events")
    assert 400 <= r.status_code < 500 and "excludeDecayed" in r.text


# ---------------------------------------------------------------- feed export and CLI


def _run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "250"})


def test_feed_export_takes_expired_indicators_out_of_detection(
    admin, world, tmp_path: Path, instance
) -> None:  # type: ignore[no-untyped-def]
    _expire(admin)
    r = _run("feed", "export", str(tmp_path / "out"), "--user", "admin@host.test", "-q")
    assert r.exit_code == 0, r.output
    path = tmp_path / "out" / f"{world['uuid']}.json"
    event = orjson.loads(path.read_bytes())["Event"]
    attrs = {a["value"]: a for a in event["Attribute"]}
    assert attrs["192.0.2.10"]["to_ids"] is False and attrs["live.example"]["to_ids"] is True
    expired_at = int(START.timestamp()) + 50 * 86400
    assert int(attrs["192.0.2.10"]["timestamp"]) == expired_at
    assert int(event["timestamp"]) == expired_at  # consumers see the event changed
    manifest = orjson.loads((tmp_path / "out" / "manifest.json").read_bytes())
    assert manifest[event["uuid"]]["timestamp"] == expired_at
    r = _run(
        "feed", "export", str(tmp_path / "all"), "--user", "admin@host.test", "-q",
        "--include-expired",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    path = tmp_path / "all" / f"{world['uuid']}.json"
    attrs = {a["value"]: a for a in orjson.loads(path.read_bytes())["Event"]["Attribute"]}
    assert attrs["192.0.2.10"]["to_ids"] is True
    assert int(attrs["192.0.2.10"]["timestamp"]) == int(START.timestamp())


def test_cli_expire_and_settings(admin, world, instance) -> None:  # type: ignore[no-untyped-def]
    r = _run("indicators", "expire", "--dry-run", "-q")
    assert r.exit_code == 0, r.output
    assert "3 indicators would expire" in r.stdout
    assert admin.get("/api/v1/lifecycle/expired").json()["items"] == []
    r = _run("indicators", "expire")
    assert r.exit_code == 0, r.output
    assert "3 indicators expired, 0 live again" in r.stdout
    assert len(admin.get("/api/v1/lifecycle/expired").json()["items"]) == 3

    r = _run("indicators", "set", "ip-dst", "--lifetime", "120", "--fp-penalty", "0.25")
    assert r.exit_code == 0, r.output
    assert "ip-dst: lifetime 120 days" in r.stdout and "(site)" in r.stdout
    r = _run("indicators", "settings")
    assert r.exit_code == 0 and "ip-dst" in r.stdout and "site" in r.stdout
    r = _run("indicators", "expire", "-q")
    assert "0 indicators expired, 3 live again" in r.stdout
    r = _run("indicators", "set", "ip-dst", "--threshold", "120")
    assert r.exit_code == 2 and "threshold" in r.output
    r = _run("indicators", "set", "not-a-type", "--threshold", "20")
    assert r.exit_code == 2 and "attribute_type" in r.output
    r = _run("indicators", "reset", "ip-dst")
    assert r.exit_code == 0 and "(built-in)" in r.stdout
