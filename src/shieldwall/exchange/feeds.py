"""Feeds in: MISP feeds (manifest.json and one file per event), CSV and freetext feeds, read
over HTTP(S) or from this machine. Services to manage them (site admins, audited) and to
fetch them, by hand, all at once, or when their schedule says so.

A MISP feed is fetched incrementally: the manifest's timestamp of every event imported is
kept per feed, and only events whose manifest timestamp is newer are read again. New events
are created with their creator organisation kept; known ones are merged by MISP's edit rules
(intel/merge.py). Each event is one transaction with its feed state, so an event that fails
is rolled back alone, reported, and tried again next time; never half-imported.

A CSV or freetext feed keeps one event up to date (fixed_event, MISP's default) or makes a
new one per fetch; its values are added, and with delta_merge the values the source no
longer lists are soft-deleted. All of one fetch lands in one transaction.
"""

from __future__ import annotations

import csv
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

import httpx
import orjson
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from shieldwall import __version__
from shieldwall.audit.service import Actor, record
from shieldwall.auth.models import Organisation
from shieldwall.auth.permissions import Permission
from shieldwall.auth.service import get_org, require
from shieldwall.clock import now
from shieldwall.context import Ctx
from shieldwall.db.engine import Database
from shieldwall.exchange.feed_models import Feed, FeedEventState
from shieldwall.exchange.freetext import iter_indicators
from shieldwall.exchange.misp_json import _map_sharing_groups
from shieldwall.ids import as_id
from shieldwall.intel import events as ev
from shieldwall.intel.common import CANONICAL_UUID, ensure_tags, resolve_sharing_group
from shieldwall.intel.errors import Conflict, DomainError, InvalidInput, NotFound
from shieldwall.intel.merge import merge_event
from shieldwall.intel.models import Attribute, Event
from shieldwall.intel.schemas import AttributeIn, EventIn, Flag, OptFlag, TagRef
from shieldwall.intel.types import split_and_normalise, type_table
from shieldwall.intel.visibility import Principal
from shieldwall.server_settings import effective_settings
from shieldwall.text import Text

log = logging.getLogger("shieldwall.feeds")

# A fetch that has held its feed this long is taken to have died (its process ended).
STALE_FETCH = timedelta(hours=2)
# Errors kept in a feed's status: enough to act on, not a log.
MAX_ERRORS = 20


class FeedError(DomainError):
    """The feed could not be read (network, file, format)."""

    status = 502
    title = "Feed unreadable"


# ---------------------------------------------------------------- input


class FeedIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Text = Field(min_length=1, max_length=255)
    provider: Text = Field(default="", max_length=255)
    url: Text = Field(min_length=1, max_length=2048)
    source_format: Literal["misp", "csv", "freetext", "taxii"] = "misp"
    enabled: Flag = False
    distribution: int = Field(default=0, ge=0, le=5)
    sharing_group: Text | int | None = None
    org: Text | int | None = Field(default=None, description="owner of the events; default: yours")
    tag: Text | None = Field(default=None, max_length=255, description="tag name for events")
    publish: Flag = False
    override_ids: Flag = False
    fixed_event: Flag = True
    delta_merge: Flag = False
    event_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    csv_value_column: int = Field(default=1, ge=1, le=1000)
    csv_type_column: int | None = Field(default=None, ge=1, le=1000)
    default_type: Text | None = Field(default=None, max_length=100)
    csv_delimiter: Text = Field(default=",", min_length=1, max_length=4)
    csv_skip_lines: int = Field(default=0, ge=0, le=10_000)
    schedule_minutes: int = Field(default=0, ge=0, le=525_600)
    # TAXII feeds: the collection (id or alias) under the API root in url, HTTP Basic
    # credentials, and the STIX types to ask for (match[type]; empty: all).
    taxii_collection: Text | None = Field(default=None, max_length=255)
    taxii_username: Text | None = Field(default=None, max_length=255)
    taxii_password: str | None = Field(default=None, max_length=4096)
    taxii_types: list[Text] | None = None


class FeedUpdate(BaseModel):
    """Only the fields sent change."""

    model_config = ConfigDict(extra="ignore")

    name: Text | None = Field(default=None, min_length=1, max_length=255)
    provider: Text | None = Field(default=None, max_length=255)
    url: Text | None = Field(default=None, min_length=1, max_length=2048)
    source_format: Literal["misp", "csv", "freetext", "taxii"] | None = None
    enabled: OptFlag = None
    distribution: int | None = Field(default=None, ge=0, le=5)
    sharing_group: Text | int | None = None
    org: Text | int | None = None
    tag: Text | None = Field(default=None, max_length=255)
    publish: OptFlag = None
    override_ids: OptFlag = None
    fixed_event: OptFlag = None
    delta_merge: OptFlag = None
    event_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    csv_value_column: int | None = Field(default=None, ge=1, le=1000)
    csv_type_column: int | None = Field(default=None, ge=1, le=1000)
    default_type: Text | None = Field(default=None, max_length=100)
    csv_delimiter: Text | None = Field(default=None, min_length=1, max_length=4)
    csv_skip_lines: int | None = Field(default=None, ge=0, le=10_000)
    schedule_minutes: int | None = Field(default=None, ge=0, le=525_600)
    taxii_collection: Text | None = Field(default=None, max_length=255)
    taxii_username: Text | None = Field(default=None, max_length=255)
    taxii_password: str | None = Field(default=None, max_length=4096)
    taxii_types: list[Text] | None = None


_PLAIN = (
    "name",
    "provider",
    "url",
    "source_format",
    "enabled",
    "publish",
    "override_ids",
    "fixed_event",
    "delta_merge",
    "csv_value_column",
    "csv_type_column",
    "default_type",
    "csv_delimiter",
    "csv_skip_lines",
    "schedule_minutes",
)
# Fields that may be cleared by sending null.
_NULLABLE = {"csv_type_column", "default_type", "event_id", "tag", "sharing_group"}


def is_remote(url: str) -> bool:
    return url.lower().startswith(("http://", "https://"))


def _check_url(url: str, source_format: str) -> str:
    url = url.strip()
    if source_format == "taxii" and not is_remote(url):
        raise InvalidInput("a TAXII feed's URL is its API root, http(s)://...", field="url")
    if is_remote(url):
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise InvalidInput(f"not a valid URL: {exc}", field="url") from None
        if not parsed.host:
            raise InvalidInput("the URL has no host", field="url")
        return url
    if "://" in url:
        raise InvalidInput("a feed URL is http(s)://... or a path on this machine", field="url")
    if not effective_settings().local_feeds:
        raise InvalidInput(
            "feeds from paths on this machine are off (SHIELDWALL_LOCAL_FEEDS)", field="url"
        )
    path = Path(url)
    if not path.is_absolute():
        raise InvalidInput("a local feed is an absolute path on this machine", field="url")
    if source_format == "misp" and not path.is_dir():
        raise InvalidInput(
            f"{url} is not a directory (a local MISP feed is the directory that holds "
            "manifest.json)",
            field="url",
        )
    if source_format != "misp" and not path.is_file():
        raise InvalidInput(f"{url} is not a file", field="url")
    return url


def _apply(session: Session, ctx: Ctx, feed: Feed, values: dict[str, Any]) -> dict[str, Any]:
    """Set and check the given fields on a feed; returns the changes (for the audit log)."""
    changes: dict[str, Any] = {}

    def put(name: str, value: Any) -> None:
        if getattr(feed, name) != value:
            changes[name] = [getattr(feed, name), value]
            setattr(feed, name, value)

    for name in _PLAIN:
        if name not in values:
            continue
        value = values[name]
        if value is None and name not in _NULLABLE:
            raise InvalidInput(f"{name} may not be null", field=name)
        put(name, value)
    if "name" in values:
        clash = session.execute(
            sa.select(Feed.id).where(Feed.name == feed.name, Feed.id != (feed.id or -1))
        ).first()
        if clash:
            raise Conflict(f"a feed named {feed.name!r} already exists", field="name")
    if "url" in values or "source_format" in values:
        put("url", _check_url(feed.url, feed.source_format))
    if feed.default_type is not None and feed.default_type not in type_table().default_category:
        raise InvalidInput(f"unknown attribute type {feed.default_type!r}", field="default_type")
    if "org" in values:
        ref = values["org"]
        put("org_id", ctx.org_id if ref in (None, "", 0) else get_org(session, ref).id)
    elif feed.org_id is None:
        feed.org_id = ctx.org_id
    if "tag" in values:
        name = (values["tag"] or "").strip()
        put("tag_id", ensure_tags(session, ctx, [name], "tag")[name].id if name else None)
    if "event_id" in values:
        event_id = values["event_id"]
        if event_id is not None and session.get(Event, event_id) is None:
            raise InvalidInput(f"event {event_id} not found", field="event_id")
        put("event_id", event_id)
    if "distribution" in values:
        if values["distribution"] is None:
            raise InvalidInput("distribution may not be null", field="distribution")
        put("distribution", values["distribution"])
    if feed.distribution == 5 and feed.source_format != "misp":
        raise InvalidInput(
            "distribution 5 (as the feed's events say) is for MISP feeds only",
            field="distribution",
        )
    if feed.source_format == "taxii":
        from shieldwall.exchange.taxii_feed import configure

        changes.update(configure(session, feed, values))
    if "distribution" in values or "sharing_group" in values:
        put(
            "sharing_group_id",
            resolve_sharing_group(
                session,
                ctx,
                feed.distribution,
                values.get("sharing_group", feed.sharing_group_id),
                "sharing_group",
            ),
        )
    return changes


# ---------------------------------------------------------------- management


def get_feed(session: Session, ctx: Ctx, ref: str | int) -> Feed:
    """A feed by id or name."""
    require(ctx, Permission.SITE_ADMIN)
    ident = as_id(ref)
    cond = Feed.id == ident if ident is not None else Feed.name == str(ref)
    feed = session.execute(sa.select(Feed).where(cond)).scalar_one_or_none()
    if feed is None:
        raise NotFound(f"feed {ref} not found", field="feed")
    return feed


def list_feeds(session: Session, ctx: Ctx) -> list[Feed]:
    require(ctx, Permission.SITE_ADMIN)
    return list(session.execute(sa.select(Feed).order_by(Feed.id)).scalars())


def create_feed(session: Session, ctx: Ctx, data: FeedIn) -> Feed:
    require(ctx, Permission.SITE_ADMIN)
    feed = Feed()
    values = data.model_dump()
    if "org" not in data.model_fields_set:
        values.pop("org")
    _apply(session, ctx, feed, values)
    session.add(feed)
    session.flush()
    record(
        session,
        ctx.actor,
        "create",
        "Feed",
        model_id=feed.id,
        title=feed.name,
        change={"url": feed.url, "source_format": feed.source_format, "enabled": feed.enabled},
    )
    return feed


def update_feed(session: Session, ctx: Ctx, ref: str | int, data: FeedUpdate) -> Feed:
    feed = get_feed(session, ctx, ref)
    values = {name: getattr(data, name) for name in data.model_fields_set}
    changes = _apply(session, ctx, feed, values)
    session.flush()
    record(session, ctx.actor, "update", "Feed", model_id=feed.id, title=feed.name, change=changes)
    return feed


def set_enabled(session: Session, ctx: Ctx, ref: str | int, enabled: bool) -> Feed:
    return update_feed(session, ctx, ref, FeedUpdate(enabled=enabled))


def delete_feed(session: Session, ctx: Ctx, ref: str | int) -> int:
    """Delete a feed and its fetch state; the events it created stay. Returns its id."""
    feed = get_feed(session, ctx, ref)
    feed_id = feed.id
    record(session, ctx.actor, "delete", "Feed", model_id=feed_id, title=feed.name)
    session.execute(sa.delete(FeedEventState).where(FeedEventState.feed_id == feed_id))
    session.execute(sa.delete(Feed).where(Feed.id == feed_id))
    session.expunge(feed)
    return feed_id


# ---------------------------------------------------------------- sources


class FeedSource(Protocol):
    """Where a feed's files come from."""

    def read(self, name: str) -> bytes:
        """A file of a MISP feed (manifest.json, <uuid>.json), whole."""
        ...

    def lines(self) -> Iterator[str]:
        """The feed document itself (CSV, freetext), line by line."""
        ...


class LocalSource:
    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def read(self, name: str) -> bytes:
        target = self.path / name
        try:
            return target.read_bytes()
        except OSError as exc:
            raise FeedError(f"{target}: {exc.strerror or exc}", field="url") from None

    def lines(self) -> Iterator[str]:
        try:
            with self.path.open(encoding="utf-8", errors="replace", newline="") as fh:
                yield from fh
        except OSError as exc:
            raise FeedError(f"{self.path}: {exc.strerror or exc}", field="url") from None


class HttpSource:
    def __init__(self, url: str, client: httpx.Client) -> None:
        self.url = url
        self.client = client

    def _get(self, url: str) -> httpx.Response:
        try:
            response = self.client.get(url)
        except httpx.HTTPError as exc:
            raise FeedError(f"{url}: {exc}", field="url") from None
        if response.status_code >= 400:
            raise FeedError(f"{url}: HTTP {response.status_code}", field="url")
        return response

    def read(self, name: str) -> bytes:
        return self._get(f"{self.url.rstrip('/')}/{name}").content

    def lines(self) -> Iterator[str]:
        try:
            with self.client.stream("GET", self.url) as response:
                if response.status_code >= 400:
                    raise FeedError(f"{self.url}: HTTP {response.status_code}", field="url")
                for line in response.iter_lines():
                    yield line + "\n"
        except httpx.HTTPError as exc:
            raise FeedError(f"{self.url}: {exc}", field="url") from None


def http_client() -> httpx.Client:
    return httpx.Client(
        timeout=httpx.Timeout(30.0, read=120.0),
        follow_redirects=True,
        headers={
            "Accept": "application/json, text/csv, text/plain, */*",
            "User-Agent": f"Shieldwall/{__version__} (feed fetcher)",
        },
    )


def open_source(url: str, client: httpx.Client) -> FeedSource:
    return HttpSource(url, client) if is_remote(url) else LocalSource(url)


# ---------------------------------------------------------------- fetching


@dataclass
class FetchReport:
    feed_id: int
    name: str = ""
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    attributes_added: int = 0
    attributes_removed: int = 0
    values_skipped: int = 0
    errors: list[str] = field(default_factory=list)

    def fail(self, what: str, why: str) -> None:
        self.failed += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(f"{what}: {why}")

    def summary(self) -> str:
        parts = [f"{self.created} events created", f"{self.updated} updated"]
        if self.unchanged:
            parts.append(f"{self.unchanged} unchanged")
        if self.attributes_added or self.attributes_removed:
            parts.append(
                f"{self.attributes_added} attributes added, {self.attributes_removed} removed"
            )
        if self.values_skipped:
            parts.append(f"{self.values_skipped} values skipped")
        parts.append(f"{self.failed} failed")
        return ", ".join(parts)


# on_progress(done, total): total is None while unknown (CSV and freetext are read as they come).
Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class _FeedConf:
    """What a fetch needs of its feed, read once (no session stays open while downloading)."""

    id: int
    name: str
    url: str
    source_format: str
    enabled: bool
    distribution: int
    sharing_group_id: int | None
    org_id: int
    tag: str | None
    publish: bool
    override_ids: bool
    fixed_event: bool
    delta_merge: bool
    event_id: int | None
    csv_value_column: int
    csv_type_column: int | None
    default_type: str | None
    csv_delimiter: str
    csv_skip_lines: int
    schedule_minutes: int
    last_fetched_at: datetime | None


def _conf(feed: Feed) -> _FeedConf:
    return _FeedConf(
        id=feed.id,
        name=feed.name,
        url=feed.url,
        source_format=feed.source_format,
        enabled=feed.enabled,
        distribution=feed.distribution,
        sharing_group_id=feed.sharing_group_id,
        org_id=feed.org_id,
        tag=feed.tag.name if feed.tag is not None else None,
        publish=feed.publish,
        override_ids=feed.override_ids,
        fixed_event=feed.fixed_event,
        delta_merge=feed.delta_merge,
        event_id=feed.event_id,
        csv_value_column=feed.csv_value_column,
        csv_type_column=feed.csv_type_column,
        default_type=feed.default_type,
        csv_delimiter=feed.csv_delimiter,
        csv_skip_lines=feed.csv_skip_lines,
        schedule_minutes=feed.schedule_minutes,
        last_fetched_at=feed.last_fetched_at,
    )


def feed_ctx(ctx: Ctx, org_id: int) -> Ctx:
    """The context a fetch writes in: on behalf of the feed's organisation, with the rights
    of the site admin (or scheduler) who runs it, who stays the actor in the audit log."""
    principal = Principal(org_id=org_id, permissions=frozenset(Permission), kind="system")
    return Ctx(principal, ctx.actor, ctx.opts)


def _claim(db: Database, conf: _FeedConf, *, unchanged_since_read: bool = False) -> bool:
    """Take the feed for one fetch; False when another fetch (any process) holds it, or
    (unchanged_since_read) when it was fetched since `conf` was read: two schedulers that
    both found a feed due fetch it once."""
    t = now()
    conds = [
        Feed.id == conf.id,
        sa.or_(
            Feed.status != "fetching",
            Feed.fetch_started_at.is_(None),
            Feed.fetch_started_at < t - STALE_FETCH,
        ),
    ]
    if unchanged_since_read:
        conds.append(
            Feed.last_fetched_at.is_(None)
            if conf.last_fetched_at is None
            else Feed.last_fetched_at == conf.last_fetched_at
        )
    with db.writing() as session:
        result = session.execute(
            sa.update(Feed)
            .where(*conds)
            .values(status="fetching", fetch_started_at=t)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))


def _finish(db: Database, ctx: Ctx, report: FetchReport, fatal: str | None) -> None:
    if fatal:
        status = "failed"
    elif report.failed:
        status = "partial"
    else:
        status = "ok"
    errors = ([fatal] if fatal else []) + report.errors
    with db.writing() as session:
        session.execute(
            sa.update(Feed)
            .where(Feed.id == report.feed_id)
            .values(
                status=status,
                last_error="\n".join(errors)[:8000],
                last_fetched_at=now(),
                fetch_started_at=None,
            )
            .execution_options(synchronize_session=False)
        )
        record(
            session,
            ctx.actor,
            "fetch",
            "Feed",
            model_id=report.feed_id,
            title=report.name,
            change={
                "status": status,
                "created": report.created,
                "updated": report.updated,
                "failed": report.failed,
                "attributes_added": report.attributes_added,
                "attributes_removed": report.attributes_removed,
                "errors": errors[:5],
            },
        )


def fetch_feed(
    db: Database,
    ctx: Ctx,
    ref: str | int,
    *,
    on_progress: Progress | None = None,
    client: httpx.Client | None = None,
) -> FetchReport:
    """Fetch one enabled feed now. Errors reading the feed are recorded in its status (and
    in the report), not raised; a disabled feed, or one being fetched, is refused."""
    report = _fetch(db, ctx, ref, on_progress=on_progress, client=client)
    assert report is not None
    return report


def _fetch(
    db: Database,
    ctx: Ctx,
    ref: str | int,
    *,
    on_progress: Progress | None = None,
    client: httpx.Client | None = None,
    due_only: bool = False,
) -> FetchReport | None:
    """fetch_feed; with due_only, None (and nothing done) unless the feed is due and no
    other process fetches it or has fetched it meanwhile."""
    with db.reading() as session:
        feed = get_feed(session, ctx, ref)
        conf = _conf(feed)
        if due_only and not is_due(feed, now()):
            return None
    if not conf.enabled:
        raise Conflict(f"feed {conf.name!r} is disabled; enable it to fetch it", field="enabled")
    if not _claim(db, conf, unchanged_since_read=due_only):
        if due_only:
            return None
        raise Conflict(f"feed {conf.name!r} is being fetched already", field="feed")
    report = FetchReport(conf.id, conf.name)
    fatal: str | None = None
    own_client = client is None
    http = client or http_client()
    try:
        source = open_source(conf.url, http)
        wctx = feed_ctx(ctx, conf.org_id)
        if conf.source_format == "misp":
            _fetch_misp(db, wctx, conf, source, report, on_progress)
        elif conf.source_format == "taxii":
            from shieldwall.exchange.taxii_feed import fetch_taxii

            fetch_taxii(db, wctx, conf, report, on_progress)
        else:
            _fetch_values(db, wctx, conf, source, report, on_progress)
    except FeedError as exc:
        fatal = exc.detail
    except DomainError as exc:
        fatal = f"{exc.field}: {exc.detail}" if exc.field else exc.detail
    except Exception as exc:  # recorded in the feed's status, then raised for the log
        fatal = f"unexpected error: {exc!r}"
        _finish(db, ctx, report, fatal)
        raise
    finally:
        if own_client:
            http.close()
    _finish(db, ctx, report, fatal)
    if fatal:
        report.errors.insert(0, fatal)
    return report


def fetch_all(
    db: Database,
    ctx: Ctx,
    *,
    due_only: bool = False,
    on_feed: Callable[[Feed], None] | None = None,
    stop: threading.Event | None = None,
) -> list[FetchReport]:
    """Fetch every enabled feed (due_only: those whose schedule says it is time), one after
    the other, until `stop` is set. A feed another process is fetching is left to it."""
    require(ctx, Permission.SITE_ADMIN)
    with db.reading() as session:
        feeds = [f for f in list_feeds(session, ctx) if f.enabled]
    t = now()
    reports = []
    with http_client() as client:
        for feed in feeds:
            if stop is not None and stop.is_set():
                break
            if due_only and not is_due(feed, t):
                continue
            if on_feed is not None:
                on_feed(feed)
            try:
                report = _fetch(db, ctx, feed.id, client=client, due_only=due_only)
            except (Conflict, NotFound) as exc:  # taken by another process, or just removed
                log.info("feed %s skipped: %s", feed.name, exc.detail)
                continue
            if report is not None:
                reports.append(report)
    return reports


def is_due(feed: Feed, at: datetime) -> bool:
    if not feed.enabled or feed.schedule_minutes <= 0:
        return False
    if feed.last_fetched_at is None:
        return True
    return bool(feed.last_fetched_at + timedelta(minutes=feed.schedule_minutes) <= at)


# ---------------------------------------------------------------- MISP feeds


def _epoch(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _manifest(source: FeedSource) -> dict[str, Any]:
    raw = source.read("manifest.json")
    try:
        manifest = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise FeedError(f"manifest.json is not valid JSON ({exc})", field="url") from None
    if not isinstance(manifest, dict):
        raise FeedError("manifest.json is not a JSON object of events by uuid", field="url")
    return manifest


def _fetch_misp(
    db: Database,
    ctx: Ctx,
    conf: _FeedConf,
    source: FeedSource,
    report: FetchReport,
    on_progress: Progress | None,
) -> None:
    manifest = _manifest(source)
    with db.reading() as session:
        seen = dict(
            session.execute(
                sa.select(FeedEventState.event_uuid, FeedEventState.timestamp).where(
                    FeedEventState.feed_id == conf.id
                )
            ).all()
        )
    todo: list[tuple[int, str]] = []
    for key, meta in manifest.items():
        uuid = str(key).lower()
        if not CANONICAL_UUID.match(uuid):
            report.fail(f"manifest entry {str(key)[:60]!r}", "not an event uuid")
            continue
        stamp = _epoch(meta.get("timestamp") if isinstance(meta, dict) else None)
        if uuid in seen and stamp <= seen[uuid]:
            report.unchanged += 1
            continue
        todo.append((stamp, uuid))
    del manifest
    todo.sort()
    if on_progress:
        on_progress(0, len(todo))
    for done, (stamp, uuid) in enumerate(todo, 1):
        _fetch_event(db, ctx, conf, source, uuid, stamp, report)
        if on_progress:
            on_progress(done, len(todo))


def _prepare(conf: _FeedConf, doc: dict[str, Any]) -> None:
    """The feed's settings applied to an event document, as MISP applies them."""
    keep = conf.distribution == 5 and "distribution" in doc
    if not keep:
        doc["distribution"] = 0 if conf.distribution == 5 else conf.distribution
        doc["sharing_group_id"] = conf.sharing_group_id if conf.distribution == 4 else None
        doc.pop("SharingGroup", None)
        # Everything inside inherits the distribution the feed gives the event.
        for a in doc.get("Attribute") or []:
            if isinstance(a, dict):
                a["distribution"] = 5
                a.pop("sharing_group_id", None)
        for o in doc.get("Object") or []:
            if isinstance(o, dict):
                o["distribution"] = 5
                o.pop("sharing_group_id", None)
                for a in o.get("Attribute") or []:
                    if isinstance(a, dict):
                        a["distribution"] = 5
                        a.pop("sharing_group_id", None)
    if conf.tag:
        tags = [t for t in doc.get("Tag") or [] if isinstance(t, dict)]
        if not any(str(t.get("name", "")).lower() == conf.tag.lower() for t in tags):
            tags.append({"name": conf.tag})
        doc["Tag"] = tags


def _fetch_event(
    db: Database,
    ctx: Ctx,
    conf: _FeedConf,
    source: FeedSource,
    uuid: str,
    stamp: int,
    report: FetchReport,
) -> None:
    label = f"event {uuid}"
    try:
        raw = orjson.loads(source.read(f"{uuid}.json"))
    except FeedError as exc:
        report.fail(label, exc.detail)
        return
    except orjson.JSONDecodeError as exc:
        report.fail(label, f"not valid JSON ({exc})")
        return
    doc = raw.get("Event") if isinstance(raw, dict) and "Event" in raw else raw
    if not isinstance(doc, dict):
        report.fail(label, "not a MISP event")
        return
    if str(doc.get("uuid", "")).lower() != uuid:
        report.fail(label, f"the file holds event {doc.get('uuid')!r}, not {uuid}")
        return
    session = db.write_session()
    try:
        with session.begin():
            _prepare(conf, doc)
            if conf.distribution == 5:
                _map_sharing_groups(session, doc)
            data = EventIn.model_validate(doc)
            existing = session.execute(
                sa.select(Event.id).where(Event.uuid == uuid)
            ).scalar_one_or_none()
            written = len(data.attributes) + sum(len(o.attributes) for o in data.objects)
            if existing is None:
                event = ev.create_event(session, ctx, data, keep_orgc=True)
            else:
                event = merge_event(session, ctx, existing, data)
                if data.published:
                    ev.publish_event(session, ctx, event.id)
            if conf.publish and not event.published:
                ev.publish_event(session, ctx, event.id)
            _remember(session, conf.id, uuid, stamp)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        report.fail(label, f"{loc}: {first['msg']}")
        return
    except DomainError as exc:
        report.fail(label, f"{exc.field}: {exc.detail}" if exc.field else exc.detail)
        return
    except (IntegrityError, DataError) as exc:
        report.fail(label, f"cannot be stored ({type(exc).__name__})")
        return
    finally:
        session.close()
    if existing is None:
        report.created += 1
        report.attributes_added += written
    else:
        report.updated += 1


def _remember(session: Session, feed_id: int, uuid: str, stamp: int) -> None:
    state = session.execute(
        sa.select(FeedEventState).where(
            FeedEventState.feed_id == feed_id, FeedEventState.event_uuid == uuid
        )
    ).scalar_one_or_none()
    if state is None:
        session.add(FeedEventState(feed_id=feed_id, event_uuid=uuid, timestamp=stamp))
    else:
        state.timestamp, state.fetched_at = stamp, now()
    session.flush()


# ---------------------------------------------------------------- CSV and freetext feeds


@dataclass(frozen=True)
class _Value:
    type: str
    value1: str
    value2: str
    category: str
    to_ids: bool

    @property
    def value(self) -> str:
        return f"{self.value1}|{self.value2}" if self.value2 else self.value1


def _counted(lines: Iterator[str], on_progress: Progress | None) -> Iterator[str]:
    for n, line in enumerate(lines, 1):
        if on_progress and n % 1000 == 0:
            on_progress(n, None)
        yield line


def _csv_values(conf: _FeedConf, lines: Iterator[str], report: FetchReport) -> Iterator[_Value]:
    """Values of a CSV feed: a typed column, or the feed's type, or else the type detected
    as freetext import detects it."""
    table = type_table()
    rows = csv.reader(
        (line for n, line in enumerate(lines) if n >= conf.csv_skip_lines),
        delimiter=conf.csv_delimiter[0],
    )
    untyped: list[str] = []

    def detected() -> Iterator[_Value]:
        for i in iter_indicators(v + "\n" for v in untyped):
            v1, _, v2 = i.value.partition("|") if "|" in i.type else (i.value, "", "")
            yield _Value(i.type, v1, v2, i.category, i.to_ids)
        untyped.clear()

    for row in rows:
        if not row or row[0].lstrip().startswith("#"):
            continue
        if len(row) < conf.csv_value_column:
            report.values_skipped += 1
            continue
        value = row[conf.csv_value_column - 1].strip()
        if not value:
            continue
        attr_type = conf.default_type
        if conf.csv_type_column is not None:
            cell = row[conf.csv_type_column - 1].strip() if len(row) >= conf.csv_type_column else ""
            attr_type = cell or attr_type
        if attr_type is None:
            untyped.append(value)
            if len(untyped) >= 5000:
                yield from detected()
            continue
        if attr_type not in table.default_category:
            report.values_skipped += 1
            continue
        try:
            v1, v2 = split_and_normalise(attr_type, value)
        except InvalidInput:
            report.values_skipped += 1
            continue
        yield _Value(
            attr_type,
            v1,
            v2,
            table.default_category[attr_type],
            table.default_to_ids.get(attr_type, False),
        )
    yield from detected()


def _freetext_values(lines: Iterator[str]) -> Iterator[_Value]:
    for i in iter_indicators(lines):
        v1, _, v2 = i.value.partition("|") if "|" in i.type else (i.value, "", "")
        yield _Value(i.type, v1, v2, i.category, i.to_ids)


def _target_event(session: Session, conf: _FeedConf) -> Event | None:
    if not conf.fixed_event or conf.event_id is None:
        return None
    return session.get(Event, conf.event_id)


def _fetch_values(
    db: Database,
    ctx: Ctx,
    conf: _FeedConf,
    source: FeedSource,
    report: FetchReport,
    on_progress: Progress | None,
) -> None:
    lines = _counted(source.lines(), on_progress)
    found = (
        _csv_values(conf, lines, report) if conf.source_format == "csv" else _freetext_values(lines)
    )
    wanted: dict[tuple[str, str, str], _Value] = {}
    for v in found:
        wanted.setdefault((v.type, v.value1, v.value2), v)
    with db.writing() as session:
        event = _target_event(session, conf)
        created = event is None
        if event is None:
            tags = [TagRef(name=conf.tag)] if conf.tag else []
            event = ev.create_event(
                session,
                ctx,
                EventIn(
                    info=f"{conf.name} feed",
                    analysis=2,
                    threat_level_id=4,
                    distribution=conf.distribution,
                    sharing_group_id=conf.sharing_group_id,
                    tags=tags,
                ),
            )
            if conf.fixed_event:
                session.execute(
                    sa.update(Feed)
                    .where(Feed.id == conf.id)
                    .values(event_id=event.id)
                    .execution_options(synchronize_session=False)
                )
        live = {
            (t, v1, v2): attr_id
            for attr_id, t, v1, v2 in session.execute(
                sa.select(Attribute.id, Attribute.type, Attribute.value1, Attribute.value2).where(
                    Attribute.event_id == event.id,
                    Attribute.object_id.is_(None),
                    Attribute.deleted.is_(False),
                )
            ).all()
        }
        fresh = [
            AttributeIn(
                type=v.type,
                value=v.value,
                category=v.category,
                to_ids=False if conf.override_ids else v.to_ids,
            )
            for key, v in wanted.items()
            if key not in live
        ]
        if fresh:
            report.attributes_added += len(
                ev.add_attributes(session, ctx, event.id, fresh, break_on_duplicate=False)
            )
        if conf.delta_merge and not created:
            for key, attr_id in live.items():
                if key not in wanted:
                    ev.delete_attribute(session, ctx, attr_id)
                    report.attributes_removed += 1
        changed = bool(fresh) or bool(report.attributes_removed)
        if conf.publish and (changed or created):
            ev.publish_event(session, ctx, event.id)
    if created:
        report.created += 1
    elif changed:
        report.updated += 1
    else:
        report.unchanged += 1


# ---------------------------------------------------------------- for the scheduler


def scheduler_ctx(db: Database, opts: Any = None) -> Ctx | None:
    """The context scheduled fetches run in (the host organisation's system context); None
    before the instance is set up."""
    from shieldwall.auth.service import host_org
    from shieldwall.context import system_ctx

    with db.reading() as session:
        org: Organisation | None = host_org(session)
        if org is None:
            return None
        org_id = org.id
    base = system_ctx(org_id, opts)
    return Ctx(base.principal, Actor(org_id=org_id, label="feed scheduler"), base.opts)
