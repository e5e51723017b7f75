"""TAXII 2.1 feeds: a remote collection polled with taxii2-client, page by page through
`more`/`next`, from the X-TAXII-Date-Added-Last of the last page imported (sent as
added_after), each page converted by bundle_events and imported as an event of the feed's
organisation with the feed's distribution, tag and publication settings."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import requests
from pydantic import ValidationError
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session
from taxii2client.exceptions import TAXIIServiceException
from taxii2client.v21 import Collection, as_pages

from shieldwall.context import Ctx
from shieldwall.db.engine import Database
from shieldwall.exchange.feed_models import Feed, TaxiiFeedSource
from shieldwall.exchange.stix import StixError, bundle_events
from shieldwall.intel import events as ev
from shieldwall.intel.errors import DomainError, InvalidInput
from shieldwall.intel.schemas import EventIn

if TYPE_CHECKING:
    from shieldwall.exchange.feeds import FetchReport, Progress, _FeedConf

# Objects asked for per request; the server may answer fewer.
PAGE = 1000


def configure(session: Session, feed: Feed, values: dict[str, Any]) -> dict[str, Any]:
    """Store a TAXII feed's collection, credentials and types; returns the changes (the
    password masked) for the audit log."""
    if feed.id is None:
        session.add(feed)
        session.flush()
    source = session.get(TaxiiFeedSource, feed.id)
    if source is None:
        source = TaxiiFeedSource(feed_id=feed.id, collection="")
        session.add(source)
    changes: dict[str, Any] = {}
    if values.get("taxii_collection") is not None:
        source.collection = values["taxii_collection"].strip()
        changes["taxii_collection"] = source.collection
    if not source.collection:
        raise InvalidInput("a TAXII feed needs the collection to read", field="taxii_collection")
    if values.get("taxii_username") is not None:
        source.username = values["taxii_username"]
        changes["taxii_username"] = source.username
    if values.get("taxii_password") is not None:
        source.password = values["taxii_password"]
        changes["taxii_password"] = "********"
    if values.get("taxii_types") is not None:
        source.types = sorted({t.strip() for t in values["taxii_types"] if t.strip()})
        changes["taxii_types"] = source.types
    if "url" in values:
        source.added_after = None  # another server: read it from the start
    session.flush()
    return changes


class _Auth(requests.auth.HTTPBasicAuth):
    """HTTP Basic that also notes each answer's X-TAXII-Date-Added-Last, which taxii2-client
    does not hand back (a response hook, as requests' own digest auth uses)."""

    def __init__(self, username: str, password: str) -> None:
        super().__init__(username, password)
        self.last_added: str | None = None

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.register_hook("response", self._note)
        return super().__call__(r) if self.username else r

    def _note(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        self.last_added = response.headers.get("X-TAXII-Date-Added-Last")
        return response


def _import_page(
    db: Database,
    ctx: Ctx,
    conf: _FeedConf,
    objects: list[dict[str, Any]],
    added_last: str | None,
    report: FetchReport,
) -> None:
    from shieldwall.exchange.feeds import _prepare

    label = f"page ending {added_last or '?'}"
    with db.writing() as session:
        try:
            events = bundle_events(
                {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}
            )
            with session.begin_nested():
                for doc in events:
                    for key in ("Org", "Orgc", "org_id", "orgc_id", "id"):
                        doc.pop(key, None)
                    _prepare(conf, doc)
                    data = EventIn.model_validate(doc)
                    event = ev.create_event(session, ctx, data)
                    if conf.publish:
                        ev.publish_event(session, ctx, event.id)
                    report.created += 1
                    report.attributes_added += len(data.attributes) + sum(
                        len(o.attributes) for o in data.objects
                    )
        except StixError as exc:
            report.fail(label, str(exc))
        except ValidationError as exc:
            first = exc.errors()[0]
            report.fail(label, f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}")
        except DomainError as exc:
            report.fail(label, f"{exc.field}: {exc.detail}" if exc.field else exc.detail)
        except (IntegrityError, DataError) as exc:
            report.fail(label, f"cannot be stored ({type(exc).__name__})")
        # The page is done, imported or reported: the next poll starts after it.
        if added_last is not None:
            source = session.get(TaxiiFeedSource, conf.id)
            if source is not None:
                source.added_after = added_last


def fetch_taxii(
    db: Database,
    ctx: Ctx,
    conf: _FeedConf,
    report: FetchReport,
    on_progress: Progress | None,
) -> None:
    from shieldwall.exchange.feeds import FeedError

    with db.reading() as session:
        source = session.get(TaxiiFeedSource, conf.id)
        if source is None:
            raise FeedError("the feed has no TAXII collection configured", field="taxii_collection")
        collection, types, added_after = source.collection, list(source.types), source.added_after
        auth = _Auth(source.username, source.password)
    url = f"{conf.url.rstrip('/')}/collections/{collection}/"
    filters: dict[str, Any] = {}
    if types:
        filters["type"] = types
    if added_after:
        filters["added_after"] = added_after
    done = 0
    try:
        remote = Collection(url, auth=auth)
        for envelope in as_pages(remote.get_objects, per_request=PAGE, **filters):
            objects = envelope.get("objects") or []
            if objects:
                _import_page(db, ctx, conf, objects, auth.last_added, report)
            done += len(objects)
            if on_progress:
                on_progress(done, None)
    except (requests.RequestException, TAXIIServiceException) as exc:
        raise FeedError(f"the TAXII server could not be read: {exc}", field="url") from None
