"""A TAXII 2.1 feed polling a collection of a live Shieldwall (this instance's own server):
first poll reads everything, the next ones only what was added since, through paging."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from shieldwall.context import system_ctx
from shieldwall.exchange import feeds as fs
from shieldwall.exchange.feed_models import TaxiiFeedSource
from shieldwall.intel.errors import InvalidInput
from shieldwall.intel.models import Attribute, Event, EventTag, Tag
from tests.taxii.conftest import ip, misp_event


def _imported_values(instance) -> set[str]:  # type: ignore[no-untyped-def]
    with instance.db.reading() as s:
        return set(
            s.execute(
                sa.select(Attribute.value1)
                .join(Event, Event.id == Attribute.event_id)
                .where(Event.info.like("STIX 2.1 Bundle%"))
            ).scalars()
        )


def _taxii_feed(instance, remote, **fields: Any) -> int:  # type: ignore[no-untyped-def]
    """An enabled TAXII feed on the remote instance's API root, as its admin."""
    with instance.db.writing() as s:
        feed = fs.create_feed(
            s,
            system_ctx(instance.host_org_id),
            fs.FeedIn(
                url=f"{remote.url}/taxii2/intel/",
                source_format="taxii",
                enabled=True,
                taxii_username=remote.email,
                **fields,
            ),
        )
        return int(feed.id)


def test_taxii_feed_polls_incrementally(instance, remote, monkeypatch) -> None:
    outbound = remote.post(
        "/api/v1/taxii/collections",
        {"title": "outbound", "tags": ["share:outbound"], "readers": ["REMOTE-CERT"]},
    )

    def remote_event(info: str, values: list[str], tags: list[str]) -> None:
        remote.post(
            "/events/add",
            misp_event(info, [ip(v) for v in values], Tag=[{"name": t} for t in tags]),
        )

    remote_event("first batch", [f"198.18.0.{i}" for i in range(1, 6)], ["share:outbound"])
    remote_event("not shared", ["198.18.9.9"], [])
    ctx = system_ctx(instance.host_org_id)
    monkeypatch.setattr("shieldwall.exchange.taxii_feed.PAGE", 4)  # several pages a poll
    feed_id = _taxii_feed(
        instance,
        remote,
        name="partner TAXII",
        tag="from:partner",
        taxii_collection=outbound["uuid"],
        taxii_password=remote.key,
        taxii_types=["indicator"],
    )
    report = fs.fetch_feed(instance.db, ctx, feed_id)
    assert not report.errors, report.errors
    assert report.created == 2  # one event per page: 4 indicators, then 1
    assert _imported_values(instance) == {f"198.18.0.{i}" for i in range(1, 6)}
    with instance.db.reading() as s:
        after = s.get(TaxiiFeedSource, feed_id).added_after
    assert after and after.endswith("Z")

    # Nothing new: nothing imported. Then only the new indicator comes.
    assert fs.fetch_feed(instance.db, ctx, feed_id).created == 0
    remote_event("second batch", ["198.18.1.1"], ["share:outbound"])
    again = fs.fetch_feed(instance.db, ctx, feed_id)
    assert again.created == 1 and not again.errors
    assert _imported_values(instance) == {f"198.18.0.{i}" for i in range(1, 6)} | {"198.18.1.1"}
    # The imported events belong to the feed's organisation and carry the feed's tag.
    with instance.db.reading() as s:
        rows = s.execute(
            sa.select(Event.org_id, Tag.name)
            .join(EventTag, EventTag.event_id == Event.id)
            .join(Tag, Tag.id == EventTag.tag_id)
            .where(Event.info.like("STIX 2.1 Bundle%"))
        ).all()
    assert {(org, tag) for org, tag in rows} >= {(instance.host_org_id, "from:partner")}
    assert {org for org, _ in rows} == {instance.host_org_id}


def test_taxii_feed_with_bad_credentials_fails_clearly(instance, remote) -> None:
    coll = remote.post("/api/v1/taxii/collections", {"title": "closed"})
    ctx = system_ctx(instance.host_org_id)
    feed_id = _taxii_feed(
        instance, remote, name="wrong key", taxii_collection=coll["uuid"], taxii_password="x" * 40
    )
    report = fs.fetch_feed(instance.db, ctx, feed_id)
    assert report.errors and "401" in report.errors[0]
    with instance.db.reading() as s:
        feed = s.get(fs.Feed, feed_id)
        assert feed.status == "failed"


def test_taxii_feed_needs_a_collection_and_an_http_url(instance) -> None:
    ctx = system_ctx(instance.host_org_id)
    for values, field in (
        ({"url": "https://taxii.example/api/"}, "taxii_collection"),
        ({"url": "/tmp", "taxii_collection": "c"}, "url"),
    ):
        with pytest.raises(InvalidInput) as refused, instance.db.writing() as s:
            fs.create_feed(s, ctx, fs.FeedIn(name="t", source_format="taxii", **values))
        assert refused.value.field == field
