"""MISP's feeds calls (site admins only, as in MISP) and the freetext import of an event.

Shieldwall imports a feed's events when it is fetched and keeps no separate feed cache, so
the cache calls say what happens instead; comparing feed caches and MISP's built-in default
feed list are not offered, and say so.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from shieldwall.api.deps import CurrentCtx, ReadDB, WriteDB
from shieldwall.api.deps import require as needs
from shieldwall.auth.permissions import Permission
from shieldwall.db.engine import get_database
from shieldwall.exchange import feeds as fs
from shieldwall.exchange.feed_models import Feed
from shieldwall.exchange.freetext import adhere_flag, apply_warninglists, extract, import_freetext
from shieldwall.ids import as_id
from shieldwall.intel.common import get_event
from shieldwall.intel.errors import InvalidInput
from shieldwall.intel.models import Tag
from shieldwall.intel.serialize import attributes_with_tags
from shieldwall.misp.common import (
    flag,
    json_body,
    misp_error,
    misp_ok,
    misp_router,
    validated,
)
from shieldwall.misp.shapes import attribute_shape, epoch, org_shape

router = misp_router()

SITE_ADMIN = [needs(Permission.SITE_ADMIN)]

NO_CACHE = (
    "Shieldwall keeps no feed cache: an enabled feed is imported as events when it is fetched "
    "(feeds/fetchFromFeed, `shieldwall feed fetch`, or on its schedule), and its values are "
    "then searched and correlated like any other attribute. Nothing was cached."
)
NO_COMPARE = (
    "Shieldwall keeps no feed caches to compare. Fetched feeds are events: search their "
    "values (restSearch) to see where feeds overlap."
)
NO_DEFAULTS = (
    "Shieldwall ships no list of default feeds. Add the feeds you want with feeds/add "
    "(or `shieldwall feed add`)."
)


# ---------------------------------------------------------------- shapes


def feed_shape(feed: Feed) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "csv": {
            "value": str(feed.csv_value_column),
            "delimiter": feed.csv_delimiter,
            "type_column": str(feed.csv_type_column or ""),
            "default_type": feed.default_type or "",
            "skip_lines": str(feed.csv_skip_lines),
        },
        "common": {"excluderegex": ""},
    }
    out: dict[str, Any] = {
        "Feed": {
            "id": str(feed.id),
            "name": feed.name,
            "provider": feed.provider,
            "url": feed.url,
            "rules": "",
            "enabled": feed.enabled,
            "distribution": str(feed.distribution),
            "sharing_group_id": str(feed.sharing_group_id or 0),
            "tag_id": str(feed.tag_id or 0),
            "default": False,
            "source_format": feed.source_format,
            "fixed_event": feed.fixed_event,
            "delta_merge": feed.delta_merge,
            "event_id": str(feed.event_id or 0),
            "publish": feed.publish,
            "override_ids": feed.override_ids,
            "settings": json.dumps(settings),
            "input_source": "network" if fs.is_remote(feed.url) else "local",
            "delete_local_file": False,
            "lookup_visible": False,
            "headers": "",
            "caching_enabled": False,
            "force_to_ids": False,
            "orgc_id": str(feed.org_id),
            "tag_collection_id": "0",
            # Shieldwall's own: the schedule and how the last fetch went.
            "schedule_minutes": str(feed.schedule_minutes),
            "status": feed.status,
            "last_error": feed.last_error,
            "last_fetched": epoch(feed.last_fetched_at),
        },
        "Orgc": org_shape(feed.org),
    }
    if feed.tag is not None:
        out["Tag"] = {"id": str(feed.tag.id), "name": feed.tag.name, "colour": feed.tag.colour}
    return out


# ---------------------------------------------------------------- input


def _falsy(value: Any) -> bool:
    return value in (None, "", 0, "0", False, [], {})


def _ref(value: Any) -> Any:
    return None if _falsy(value) else value


def _settings(value: Any) -> dict[str, Any]:
    if _falsy(value):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise InvalidInput("settings is not valid JSON", field="settings") from None
    if not isinstance(value, dict):
        raise InvalidInput("settings is a JSON object", field="settings")
    return value


def _rules_empty(value: Any) -> bool:
    """MISP's pull rules; only the empty ones (every filter blank) are accepted."""
    if _falsy(value):
        return True
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return False
    if not isinstance(value, dict):
        return False
    for scope in ("tags", "orgs"):
        block = value.get(scope) or {}
        if not isinstance(block, dict) or any(block.get(k) for k in ("OR", "NOT")):
            return False
    return _falsy(value.get("url_params"))


def _values(db: Any, body: dict[str, Any]) -> dict[str, Any]:
    """MISP's Feed fields as the feed service's."""
    raw = body.get("Feed", body)
    if not isinstance(raw, dict):
        raise InvalidInput("Feed must be a JSON object", field="Feed")
    for name, why in (
        ("caching_enabled", NO_CACHE),
        ("force_to_ids", "force_to_ids is not supported; override_ids (not for IDS) is"),
        ("delete_local_file", "Shieldwall never deletes a feed's files"),
        ("headers", "custom request headers are not supported"),
        ("tag_collection_id", "tag collections are not supported; give one tag (tag_id)"),
    ):
        if not _falsy(raw.get(name)):
            raise InvalidInput(why, field=name)
    rules = raw.get("rules", raw.get("pull_rules"))
    if not _rules_empty(rules):
        raise InvalidInput(
            "pull rules (tag and organisation filters) are not supported", field="rules"
        )
    out: dict[str, Any] = {}
    for name in (
        "name",
        "provider",
        "url",
        "source_format",
        "enabled",
        "distribution",
        "publish",
        "override_ids",
        "fixed_event",
        "delta_merge",
        "schedule_minutes",
        "taxii_collection",
        "taxii_username",
        "taxii_password",
        "taxii_types",
    ):
        if name in raw:
            out[name] = raw[name]
    if "sharing_group_id" in raw:
        out["sharing_group"] = _ref(raw["sharing_group_id"])
    if "orgc_id" in raw and not _falsy(raw["orgc_id"]):
        out["org"] = raw["orgc_id"]
    for key in ("event_id", "target_event"):
        if key in raw:
            out["event_id"] = _ref(raw[key])
    if "tag_id" in raw:
        tag_id = _ref(raw["tag_id"])
        if tag_id is None:
            out["tag"] = None
        else:
            tag = db.get(Tag, as_id(tag_id) or 0)
            if tag is None:
                raise InvalidInput(f"tag {tag_id} not found", field="tag_id")
            out["tag"] = tag.name
    settings = _settings(raw.get("settings"))
    csv_settings = settings.get("csv") or {}
    if not isinstance(csv_settings, dict):
        raise InvalidInput("settings.csv is a JSON object", field="settings.csv")
    if not _falsy(csv_settings.get("value")):
        columns = [c.strip() for c in str(csv_settings["value"]).split(",") if c.strip()]
        if len(columns) != 1:
            raise InvalidInput(
                "one value column is read from a CSV feed", field="settings.csv.value"
            )
        out["csv_value_column"] = columns[0]
    if not _falsy(csv_settings.get("delimiter")):
        out["csv_delimiter"] = csv_settings["delimiter"]
    for key, name in (("type_column", "csv_type_column"), ("default_type", "default_type")):
        if key in csv_settings:
            out[name] = _ref(csv_settings[key])
    if "skip_lines" in csv_settings:
        out["csv_skip_lines"] = _ref(csv_settings["skip_lines"]) or 0
    common = settings.get("common") or {}
    if isinstance(common, dict) and not _falsy(common.get("excluderegex")):
        raise InvalidInput("exclude patterns are not supported", field="settings.common")
    return out


# ---------------------------------------------------------------- management


@router.get("/feeds", dependencies=SITE_ADMIN)
@router.get("/feeds/index", dependencies=SITE_ADMIN)
def index_feeds(ctx: CurrentCtx, db: ReadDB) -> list[dict[str, Any]]:
    return [feed_shape(f) for f in fs.list_feeds(db, ctx)]


@router.get("/feeds/view/{ref}", dependencies=SITE_ADMIN)
def view_feed(ref: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    return feed_shape(fs.get_feed(db, ctx, ref))


@router.post("/feeds/add", dependencies=SITE_ADMIN)
async def add_feed(request: Request, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    values = _values(db, await json_body(request))
    # MISP's defaults for a feed added through the API.
    values.setdefault("source_format", "freetext")
    values.setdefault("distribution", 0)
    feed = fs.create_feed(db, ctx, validated(fs.FeedIn, values))
    out = feed_shape(feed)
    db.commit()
    return out


@router.post("/feeds/edit/{ref}", dependencies=SITE_ADMIN)
@router.put("/feeds/edit/{ref}", dependencies=SITE_ADMIN)
async def edit_feed(request: Request, ref: str, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    values = _values(db, await json_body(request))
    feed = fs.update_feed(db, ctx, ref, validated(fs.FeedUpdate, values))
    out = feed_shape(feed)
    db.commit()
    return out


@router.post("/feeds/enable/{ref}", dependencies=SITE_ADMIN)
@router.post("/feeds/disable/{ref}", dependencies=SITE_ADMIN)
def toggle_feed(request: Request, ref: str, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    enable = "/feeds/enable/" in request.url.path
    feed = fs.set_enabled(db, ctx, ref, enable)
    db.commit()
    return misp_ok(
        f"Feed {'enabled' if enable else 'disabled'}.", request.url.path, id=str(feed.id)
    )


@router.post("/feeds/delete/{ref}", dependencies=SITE_ADMIN)
@router.delete("/feeds/delete/{ref}", dependencies=SITE_ADMIN)
def delete_feed(request: Request, ref: str, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    feed_id = fs.delete_feed(db, ctx, ref)
    db.commit()
    return misp_ok("Feed deleted.", request.url.path, id=str(feed_id))


# ---------------------------------------------------------------- fetching


def _fetch_answer(report: fs.FetchReport) -> dict[str, Any]:
    failed = bool(report.errors) and report.created + report.updated + report.unchanged == 0
    verb = "could not be fetched" if failed else "fetched"
    out: dict[str, Any] = {
        "result": f"Feed {report.name!r} {verb}: {report.summary()}.",
        "success": not report.failed and not failed,
        "created": report.created,
        "updated": report.updated,
        "failed": report.failed,
    }
    if report.errors:
        out["errors"] = report.errors
    return out


@router.get("/feeds/fetchFromFeed/{ref}", dependencies=SITE_ADMIN)
@router.post("/feeds/fetchFromFeed/{ref}", dependencies=SITE_ADMIN)
def fetch_from_feed(ref: str, ctx: CurrentCtx) -> dict[str, Any]:
    # Fetched at once, in this request (no job queue): the answer says what was imported.
    return _fetch_answer(fs.fetch_feed(get_database(), ctx, ref))


@router.get("/feeds/fetchFromAllFeeds", dependencies=SITE_ADMIN)
@router.post("/feeds/fetchFromAllFeeds", dependencies=SITE_ADMIN)
def fetch_from_all_feeds(ctx: CurrentCtx) -> dict[str, Any]:
    reports = fs.fetch_all(get_database(), ctx)
    if not reports:
        return {"result": "No feed is enabled; nothing was fetched.", "success": True}
    return {
        "result": " ".join(_fetch_answer(r)["result"] for r in reports),
        "success": all(_fetch_answer(r)["success"] for r in reports),
        "feeds": [_fetch_answer(r) for r in reports],
    }


@router.post("/feeds/cacheFeeds/{scope}", dependencies=SITE_ADMIN)
@router.get("/feeds/cacheFeeds/{scope}", dependencies=SITE_ADMIN)
def cache_feeds(request: Request, scope: str) -> dict[str, Any]:
    return misp_ok(NO_CACHE, request.url.path)


@router.get("/feeds/compareFeeds", dependencies=SITE_ADMIN)
@router.get("/feeds/compareFeeds/{ref}", dependencies=SITE_ADMIN)
def compare_feeds(request: Request) -> Any:
    return misp_error(400, NO_COMPARE, request.url.path)


@router.post("/feeds/loadDefaultFeeds", dependencies=SITE_ADMIN)
def load_default_feeds(request: Request) -> Any:
    return misp_error(400, NO_DEFAULTS, request.url.path)


# ---------------------------------------------------------------- freetext import


@router.post("/events/freeTextImport/{ref}")
@router.post("/events/freeTextImport/{ref}/{adhere}")
@router.post("/events/freeTextImport/{ref}/{adhere}/{meta}")
async def freetext_import(
    request: Request,
    ref: str,
    ctx: CurrentCtx,
    db: WriteDB,
    adhere: str | None = None,
    meta: str | None = None,
) -> Any:
    body = await json_body(request)
    inner = body.get("Attribute", body)
    if isinstance(inner, str):
        inner = {"value": inner}
    if not isinstance(inner, dict):
        raise InvalidInput("Attribute must be a JSON object", field="Attribute")
    text = inner.get("value")
    if not isinstance(text, str):
        raise InvalidInput("value is the text to import", field="value")
    warn = adhere_flag(inner.get("adhereToWarninglists", adhere))
    if flag(inner.get("returnMetaAttributes", meta)):
        get_event(db, ctx, ref)
        found = apply_warninglists(db, extract(text), warn)
        return [
            {
                "value": i.value,
                "category": i.category,
                "to_ids": i.to_ids,
                "types": {t: t for t in i.types},
                "default_type": i.type,
                "comment": "",
            }
            for i in found
        ]
    distribution = inner.get("distribution")
    dist = 5 if distribution in (None, "", -1, "-1") else as_id(distribution)
    if dist is None:
        raise InvalidInput("distribution is 0 to 3, or 5 (as the event)", field="distribution")
    attrs = import_freetext(db, ctx, ref, text, distribution=dist, adhere=warn)
    out = [attribute_shape(a) for a in attributes_with_tags(db, ctx, attrs)]
    db.commit()
    return out
