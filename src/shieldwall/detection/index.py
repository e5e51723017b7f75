"""The indicator index a hunt matches telemetry against: what one reader (a sensor, or a
user) may see, held compactly (sets of bytes, sorted integer arrays for CIDR blocks), built
from the database with one streamed query and refreshed with what changed since.

The index only says that a value is an indicator; which attributes hold it is asked of the
database when a value matches (resolve), under the same conditions. A stale entry (an
indicator deleted or expired since the build) therefore never reaches a match."""

from __future__ import annotations

import ipaddress
import operator
import re
import socket
from array import array
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from itertools import compress, repeat
from operator import itemgetter, methodcaller
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from shieldwall.clock import now
from shieldwall.context import Ctx
from shieldwall.detection import _scan
from shieldwall.intel.models import VALUE_KEY_LEN, Attribute, AttributeTag, Event, EventTag, Tag
from shieldwall.intel.search import value_key
from shieldwall.intel.types import norm_url
from shieldwall.intel.visibility import attribute_condition, tag_condition
from shieldwall.knowledge import warninglists

# MISP attribute types the hunt matches, by the kind of observable they match.
KIND_TYPES: dict[str, tuple[str, ...]] = {
    "ip": ("ip-src", "ip-dst"),
    "ip_port": ("ip-src|port", "ip-dst|port"),
    "domain": ("domain", "hostname"),
    "url": ("url",),
    "uri": ("uri",),
    "hash": ("md5", "sha1", "sha256"),
    "file_hash": ("filename|md5", "filename|sha1", "filename|sha256"),
    "email": ("email", "email-src", "email-dst"),
    "ja3": ("ja3-fingerprint-md5",),
    "user_agent": ("user-agent",),
}
TYPE_KIND = {t: kind for kind, types in KIND_TYPES.items() for t in types}
INDICATOR_TYPES = tuple(sorted(TYPE_KIND))
_HEX = re.compile(r"^[0-9a-f]+$")
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
# An IPv4 address as written canonically (no leading zeros): its own canonical form.
_DOTTED_QUAD = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}")
_big_endian = partial(int.from_bytes, byteorder="big")
# The part of a name after its first dot, in two C calls.
_AFTER_DOT = methodcaller("partition", ".")
_SUFFIX = itemgetter(2)
_RSTRIP_DOT = methodcaller("rstrip", ".")


def _part(values: Iterable[str], method: str, sep: str, index: int) -> Iterator[str]:
    """One part of each string split by str.partition or str.rpartition, at C speed."""
    return map(itemgetter(index), map(methodcaller(method, sep), values))


_DEFAULT_PORTS = {"http": ":80", "https": ":443"}
# Attributes read per round trip while building; the query itself streams.
BUILD_BATCH = 50_000
# A refresh asks again for what changed this long before the last watermark: writers'
# clocks and commit order may lag a little.
REFRESH_MARGIN = timedelta(seconds=5)


@dataclass(frozen=True)
class Scope:
    """Which attributes are indicators: MISP's defaults (to_ids, published, live, not on a
    warninglist) unless asked otherwise."""

    include_expired: bool = False
    include_warninglisted: bool = False
    all_attributes: bool = False  # not only to_ids
    include_unpublished: bool = False


def indicator_conditions(ctx: Ctx, scope: Scope) -> list[ColumnElement[bool]]:
    """The conditions an attribute meets to be an indicator for this reader (Attribute and
    Event in the FROM clause); the access rules are intel/visibility.py's."""
    conds: list[ColumnElement[bool]] = [
        attribute_condition(ctx.principal, ctx.opts),
        Attribute.type.in_(INDICATOR_TYPES),
    ]
    if not scope.include_unpublished:
        conds.append(Event.published.is_(True))
    if not scope.all_attributes:
        conds.append(Attribute.to_ids.is_(True))
    if not scope.include_expired:
        conds.append(Attribute.expired_at.is_(None))
    return conds


# ---------------------------------------------------------------- normalisation


def url_key(value: str) -> str | None:
    """A URL as the index holds it: no scheme, host in lower case, no default port, no
    fragment, no lone trailing slash. None for something that is no URL."""
    v = value.strip()
    if not v:
        return None
    try:
        v = norm_url(v)
    except ValueError:
        return None
    scheme = ""
    if "://" in v:
        scheme, _, v = v.partition("://")
        scheme = scheme.lower()
    v = v.split("#", 1)[0]
    host, slash, rest = v.partition("/")
    host = host.lower().rstrip(".")
    port = _DEFAULT_PORTS.get(scheme)
    if port and host.endswith(port):
        host = host[: -len(port)]
    if not host:
        return None
    path = slash + rest
    if path == "/":
        path = ""
    return host + path


def url_host(key: str) -> str:
    """The host of a URL key, without port or user information."""
    host = key.split("/", 1)[0].rpartition("@")[2]
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def email_address(value: str) -> str:
    """The address in "Name <a@b.example>" or "<a@b.example>", lower case."""
    v = value.strip()
    if "<" in v and v.endswith(">"):
        v = v[v.rindex("<") + 1 : -1]
    return v.strip().lower()


def _ip_int(value: str) -> tuple[int, int] | None:
    if value.count(".") == 3 and ":" not in value:
        try:
            return 4, int.from_bytes(socket.inet_aton(value), "big")
        except OSError:
            return None
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        return None
    return addr.version, int(addr)


# ---------------------------------------------------------------- the index


@dataclass
class _Ranges:
    """CIDR blocks of one address family, sorted by start; `reach[i]` is the highest end
    among blocks 0..i, so a lookup walks back only while a block can still contain."""

    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    reach: list[int] = field(default_factory=list)
    padded_reach: list[int] = field(default_factory=lambda: [-1])
    pending: list[tuple[int, int, str]] = field(default_factory=list)

    def add(self, start: int, end: int, name: str) -> None:
        self.pending.append((start, end, name))

    def seal(self, v4: bool) -> None:
        if not self.pending:
            return
        rows = sorted(
            {*zip(self.starts, self.ends, self.names, strict=True), *self.pending},
        )
        self.pending = []
        typecode = "L" if v4 else "Q"
        if v4:
            self.starts = array(typecode, (r[0] for r in rows))  # type: ignore[assignment]
            self.ends = array(typecode, (r[1] for r in rows))  # type: ignore[assignment]
        else:
            self.starts = [r[0] for r in rows]
            self.ends = [r[1] for r in rows]
        self.names = [r[2] for r in rows]
        reach: list[int] = []
        top = -1
        for end in self.ends:
            top = max(top, end)
            reach.append(top)
        self.reach = array(typecode, reach) if v4 else reach  # type: ignore[assignment]
        self.padded_reach = [-1, *reach]

    def containing(self, x: int) -> list[str]:
        out: list[str] = []
        i = bisect_right(self.starts, x) - 1
        while i >= 0 and self.reach[i] >= x:
            if self.ends[i] >= x:
                out.append(self.names[i])
            i -= 1
        return out

    def __len__(self) -> int:
        return len(self.names) + len(self.pending)


class IndicatorIndex:
    """The indicators one reader may see, as compact sets of their normalised values."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.ips: set[bytes] = set()
        self.ip_ports: set[bytes] = set()
        self.port_ips: set[bytes] = set()  # the addresses of the ip|port indicators
        self.domains: set[bytes] = set()
        self.url_hosts: set[bytes] = set()  # hosts of URL indicators: the fast path's cue
        self.urls: set[bytes] = set()
        self.uris: set[bytes] = set()
        self.hashes: set[bytes] = set()
        self.emails: set[bytes] = set()
        self.ja3: set[bytes] = set()
        self.user_agents: set[bytes] = set()
        self.v4 = _Ranges()
        self.v6 = _Ranges()
        self.built_at: datetime | None = None
        self.generation = 0
        self.has_networks = False
        self.keys = _scan.Bloom(0)

    # ------------------------------------------------------------ filling

    def add(self, attr_type: str, value1: str, value2: str) -> None:
        kind = TYPE_KIND.get(attr_type)
        v = value1.strip()
        if kind == "ip":
            if "/" in v:
                self._add_network(v)
            else:
                self.ips.add(v.encode())
        elif kind == "ip_port":
            ip = v.strip("[]")
            self.ip_ports.add(f"{ip}|{value2.strip()}".encode())
            self.port_ips.add(ip.encode())
        elif kind == "domain":
            self.domains.add(v.lower().rstrip(".").encode())
        elif kind == "url":
            key = url_key(v)
            if key is None:
                return
            self.urls.add(key.encode())
            self.url_hosts.add(url_host(key).encode())
        elif kind == "uri":
            self.uris.add(v.encode())
        elif kind == "hash":
            self.hashes.add(v.lower().encode())
        elif kind == "file_hash":
            self.hashes.add(value2.strip().lower().encode())
        elif kind == "email":
            self.emails.add(email_address(v).encode())
        elif kind == "ja3":
            self.ja3.add(v.lower().encode())
        elif kind == "user_agent":
            self.user_agents.add(v.encode())

    def add_many(self, rows: list[tuple[str, str, str]]) -> None:
        """add() for many (type, value1, value2) rows: the rows of each kind together, the
        common kinds normalised at C speed."""
        kinds = list(map(TYPE_KIND.get, map(itemgetter(0), rows)))
        for kind in set(kinds):
            if kind is None:
                continue
            picked = list(compress(rows, map(operator.eq, kinds, repeat(kind))))
            values = list(map(str.strip, map(itemgetter(1), picked)))
            if kind == "ip":
                cidr = list(map(str.__contains__, values, repeat("/")))
                self.ips.update(map(str.encode, compress(values, map(operator.not_, cidr))))
                for v in compress(values, cidr):
                    self._add_network(v)
            elif kind == "domain":
                self.domains.update(map(str.encode, map(_RSTRIP_DOT, map(str.lower, values))))
            elif kind in ("hash", "ja3"):
                held = self.hashes if kind == "hash" else self.ja3
                held.update(map(str.encode, map(str.lower, values)))
            elif kind == "file_hash":
                seconds = map(str.strip, map(itemgetter(2), picked))
                self.hashes.update(map(str.encode, map(str.lower, seconds)))
            elif kind == "uri":
                self.uris.update(map(str.encode, values))
            elif kind == "user_agent":
                self.user_agents.update(map(str.encode, values))
            else:
                for t, v1, v2 in picked:
                    self.add(t, v1, v2)

    def _add_network(self, value: str) -> None:
        try:
            net = ipaddress.ip_network(value, strict=False)
        except ValueError:
            return
        if net.prefixlen == net.max_prefixlen:
            self.ips.add(str(net.network_address).encode())
            return
        ranges = self.v4 if net.version == 4 else self.v6
        ranges.add(int(net.network_address), int(net.broadcast_address), value)

    def seal(self) -> None:
        self.v4.seal(True)
        self.v6.seal(False)
        self.has_networks = bool(len(self.v4) or len(self.v6))
        # The keys the hunt's scanner looks values up by before the screen: addresses (and
        # those of ip|port indicators), domains and URL hosts; 12 bits a key. Made whole
        # before the new generation shows, so no scanner of it gets the filter before.
        held = (self.ips, self.port_ips, self.domains, self.url_hosts)
        keys = _scan.Bloom(sum(map(len, held)))
        for part in held:
            keys.add(part)
        self.keys = keys
        self.generation += 1

    # ------------------------------------------------------------ matching

    def networks_of(self, ip: str) -> list[str]:
        if not self.has_networks:
            return []
        parsed = _ip_int(ip)
        if parsed is None:
            return []
        version, x = parsed
        return (self.v4 if version == 4 else self.v6).containing(x)

    def domain_hits(self, host: str) -> Iterator[str]:
        """The indicator domains this host name is, or is a subdomain of."""
        h = host.strip().lower().rstrip(".")
        domains = self.domains
        while h:
            if h.encode() in domains:
                yield h
            dot = h.find(".")
            if dot < 0:
                return
            h = h[dot + 1 :]

    def match(self, kind: str, value: str) -> list[tuple[str, str]]:
        """The (indicator kind, indicator key) pairs an observable of this kind matches."""
        out: list[tuple[str, str]] = []
        if not value:
            return out
        if kind == "host":
            kind = "ip" if _canonical_ip(value.strip().strip("[]")) is not None else "domain"
        if kind == "ip":
            ip = value.strip().strip("[]")
            if "%" in ip:
                ip = ip.split("%", 1)[0]
            canonical = _canonical_ip(ip)
            if canonical is None:
                return out
            if canonical.encode() in self.ips:
                out.append(("ip", canonical))
            out.extend(("ip", n) for n in self.networks_of(canonical))
        elif kind == "ip_port":
            ip, _, port = value.rpartition("|")
            canonical = _canonical_ip(ip.strip("[]"))
            if canonical is not None and f"{canonical}|{port}".encode() in self.ip_ports:
                out.append(("ip_port", f"{canonical}|{port}"))
        elif kind == "domain":
            out.extend(("domain", d) for d in self.domain_hits(value))
        elif kind == "url":
            key = url_key(value)
            if key is not None and key.encode() in self.urls:
                out.append(("url", key))
        elif kind == "uri":
            v = value.strip()
            if v.encode() in self.uris:
                out.append(("uri", v))
            path = v.split("?", 1)[0]
            if path != v and path.encode() in self.uris:
                out.append(("uri", path))
        elif kind == "hash":
            v = value.strip().lower()
            if len(v) in (32, 40, 64) and v.encode() in self.hashes:
                out.append(("hash", v))
        elif kind == "email":
            v = email_address(value)
            if v.encode() in self.emails:
                out.append(("email", v))
        elif kind == "ja3":
            v = value.strip().lower()
            if v.encode() in self.ja3:
                out.append(("ja3", v))
        elif kind == "user_agent" and value.encode() in self.user_agents:
            out.append(("user_agent", value))
        return out

    # ------------------------------------------------------------ screening in bulk
    #
    # A hunt reading columns asks, for the distinct values of a field, which may match:
    # screen(kind, values) is exactly {v for v in values if self.hot(kind, v)}, with the
    # common shapes tested in bulk at C speed. Besides the readers' kinds there are two
    # screens: "endpoint" (an address that may also pair with its port for an ip|port
    # indicator) and "host_url" (a host that may also make a URL indicator with the URI).

    def hot(self, kind: str, value: str) -> bool:
        """Whether an observable may match: the reference the bulk screen keeps to."""
        if kind == "endpoint":
            return bool(self.match("ip", value)) or self._port_address(value)
        if kind == "host_url":
            return bool(self.match("host", value)) or self._url_host(value)
        return bool(self.match(kind, value))

    def _port_address(self, value: str) -> bool:
        # An "ip|port" observation matches only when its canonical address is one of an
        # ip|port indicator's, whatever the port.
        canonical = _canonical_ip(value.strip("[]"))
        return canonical is not None and canonical.encode() in self.port_ips

    def _url_host(self, host: str) -> bool:
        # A host and a URI starting with "/" make the URL host + uri, whose key has the
        # host's own host part, unless the join makes a scheme ("http:" + "//x/").
        if not self.url_hosts:
            return False
        if host.endswith((":", ":/")):
            return True
        key = url_key(host + "/")
        return key is not None and url_host(key).encode() in self.url_hosts

    def screen(self, kind: str, values: set[str]) -> set[str]:
        """The values that may match an indicator when observed as `kind`."""
        if not values:
            return set()
        if kind in ("ip", "endpoint", "host", "host_url"):
            # Addresses written canonically are looked up in bulk; a host that is such an
            # address is matched as one (and makes a URL whose host it is).
            quads = set(filter(_DOTTED_QUAD.fullmatch, values))
            out = self._screen_quads(quads, kind == "endpoint")
            if kind == "host_url" and self.url_hosts:
                out.update(q for q in quads if q.encode() in self.url_hosts)
            rest = values - quads
            if kind in ("host", "host_url"):
                names = {v for v in rest if ":" not in v and v.count(".") != 3}
                out.update(self._screen_names(names))
                if kind == "host_url" and self.url_hosts:
                    out.update(self._screen_url_hosts(names - out))
                rest -= names
            out.update(v for v in rest if self.hot(kind, v))
            return out
        if kind == "domain":
            return self._screen_names(values)
        held = {
            "uri": self.uris,
            "email": self.emails,
            "url": self.urls,
            "domain": self.domains,
        }.get(kind)
        if held is not None and not held:
            return set()
        exact = {"hash": self.hashes, "ja3": self.ja3, "user_agent": self.user_agents}.get(kind)
        if exact is not None:
            if not exact:
                return set()
            listed = list(values)
            keys: Iterable[str] = listed
            if kind != "user_agent":
                keys = map(str.lower, map(str.strip, listed))
            found = compress(listed, map(exact.__contains__, map(str.encode, keys)))
            return {v for v in found if self.hot(kind, v)}
        return {v for v in values if self.hot(kind, v)}

    def _screen_names(self, values: set[str]) -> set[str]:
        """screen() of domain names (and host names that are no address): each name and
        every suffix after one of its dots looked up in the indicator domains, a label at
        a time for all the names together."""
        if not self.domains or not values:
            return set()
        originals = list(values)
        names = list(map(_RSTRIP_DOT, map(str.lower, map(str.strip, originals))))
        out: set[str] = set()
        contains = self.domains.__contains__
        while True:
            # Only names not found yet and not empty go on (as domain_hits stops at "").
            keep = list(map(operator.truth, names))
            originals = list(compress(originals, keep))
            names = list(compress(names, keep))
            if not names:
                return out
            held = list(map(contains, map(str.encode, names)))
            if any(held):
                out.update(compress(originals, held))
                rest = list(map(operator.not_, held))
                originals = list(compress(originals, rest))
                names = list(compress(names, rest))
            names = list(map(_SUFFIX, map(_AFTER_DOT, names)))

    def _screen_url_hosts(self, names: set[str]) -> set[str]:
        """The names (no colon, no address) whose URL host, as url_key and url_host read
        it after the join with a URI, is a URL indicator's host: in bulk, the steps those
        functions take on a string without a scheme or port."""
        odd = {n for n in names if "[" in n}
        listed = list(names - odd)
        hosts = _part(_part(map(str.lstrip, listed), "partition", "#", 0), "partition", "/", 0)
        hosts = _part(map(_RSTRIP_DOT, map(str.lower, hosts)), "rpartition", "@", 2)
        found = compress(listed, map(self.url_hosts.__contains__, map(str.encode, hosts)))
        return set(found) | {n for n in odd if self._url_host(n)}

    def _screen_quads(self, quads: set[str], endpoint: bool) -> set[str]:
        """screen() of canonical dotted quads: set lookups, and one bisection each into
        the IPv4 blocks when there are any."""
        if not quads:
            return set()
        listed = list(quads)
        encoded = list(map(str.encode, listed))
        out = set(compress(listed, map(self.ips.__contains__, encoded)))
        if endpoint and self.port_ips:
            out.update(compress(listed, map(self.port_ips.__contains__, encoded)))
        v4 = self.v4
        if len(v4.names):
            ints = list(map(_big_endian, map(socket.inet_aton, listed)))
            # The last block starting at or before x contains it when the highest end so
            # far reaches x (reach is padded so that "no block" reads -1).
            at = map(bisect_right, repeat(v4.starts), ints)
            reach = v4.padded_reach.__getitem__
            out.update(compress(listed, map(operator.ge, map(reach, at), ints)))
        return out

    def kinds(self) -> set[str]:
        """The kinds of observable (readers' kinds) this index can match."""
        out: set[str] = set()
        if self.ips or self.port_ips or self.has_networks:
            out |= {"ip", "host"}
        if self.domains or self.url_hosts:
            out |= {"domain", "host"}
        if self.urls:
            out.add("url")
        for kind, held in (
            ("uri", self.uris),
            ("hash", self.hashes),
            ("email", self.emails),
            ("ja3", self.ja3),
            ("user_agent", self.user_agents),
        ):
            if held:
                out.add(kind)
        return out

    def __len__(self) -> int:
        sets = (self.ips, self.ip_ports, self.domains, self.urls, self.uris, self.hashes)
        more = (self.emails, self.ja3, self.user_agents)
        return sum(len(s) for s in (*sets, *more)) + len(self.v4) + len(self.v6)


def _canonical_ip(value: str) -> str | None:
    if ":" not in value:
        # Without a colon only a dotted quad can be an address: names are rejected here,
        # not by the exception an address parser raises.
        if value.count(".") != 3:
            return None
        if _DOTTED_QUAD.fullmatch(value):
            return value
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


# ---------------------------------------------------------------- building from the database


def _batches_of_rows(
    session: Session,
    ctx: Ctx,
    scope: Scope,
    since: datetime | None = None,
    published_after: datetime | None = None,
) -> Iterator[list[tuple[str, str, str]]]:
    """The indicators' (type, value1, value2), streamed a batch at a time."""
    q = (
        sa.select(Attribute.type, Attribute.value1, Attribute.value2)
        .join(Event, Event.id == Attribute.event_id)
        .where(*indicator_conditions(ctx, scope))
    )
    if since is not None:
        q = q.where(sa.or_(Attribute.timestamp >= since, Event.publish_timestamp >= since))
    if published_after is not None:
        q = q.where(Event.publish_timestamp > published_after)
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        # A server-side cursor (SQLite's cursor steps through the rows as they are read).
        conn = conn.execution_options(stream_results=True)
    result = conn.execute(q)
    m = None if scope.include_warninglisted else warninglists.matcher(session)
    typed = m.typed_mask if m is not None and m.infos else None
    try:
        # The first batch through the result, which may hold rows it read ahead; the rest
        # straight from the driver's cursor: the three text columns need no processing on
        # either engine, and building a result row for each costs more than the query.
        batch = cast(list[tuple[str, str, str]], result.fetchmany(BUILD_BATCH))
        more = len(batch) == BUILD_BATCH
        while batch:
            if typed is not None:
                batch = [r for r in batch if not typed(r[0], f"{r[1]}|{r[2]}" if r[2] else r[1])]
            yield batch
            batch = (
                cast(list[tuple[str, str, str]], result.cursor.fetchmany(BUILD_BATCH))
                if more
                else []
            )
    finally:
        result.close()


def build(session: Session, ctx: Ctx, scope: Scope | None = None) -> IndicatorIndex:
    """The index of every indicator the context's principal may read."""
    scope = scope or Scope()
    index = IndicatorIndex(scope)
    started = now()
    for batch in _batches_of_rows(session, ctx, scope):
        index.add_many(batch)
    index.seal()
    index.built_at = started
    return index


def refresh(session: Session, ctx: Ctx, index: IndicatorIndex) -> int:
    """Add the indicators changed or published since the index's last build or refresh;
    returns how many were read."""
    started = now()
    since = (index.built_at or started) - REFRESH_MARGIN
    n = 0
    for batch in _batches_of_rows(session, ctx, index.scope, since):
        index.add_many(batch)
        n += len(batch)
    index.seal()
    index.built_at = started
    return n


def build_published_since(
    session: Session, ctx: Ctx, since: datetime | None, scope: Scope | None = None
) -> IndicatorIndex:
    """The index of the indicators of events published after `since` (every published
    one when None): what a retro-hunt looks for."""
    scope = scope or Scope()
    index = IndicatorIndex(scope)
    started = now()
    for batch in _batches_of_rows(session, ctx, scope, published_after=since):
        index.add_many(batch)
    index.seal()
    index.built_at = started
    return index


# ---------------------------------------------------------------- resolving a matched value


@dataclass(frozen=True)
class IndicatorRef:
    """An attribute that holds a matched indicator value."""

    attribute_id: int
    attribute_uuid: str
    type: str
    value: str
    event_id: int
    event_uuid: str
    event_info: str
    threat_level_id: int
    tags: tuple[str, ...]


def _url_forms(key: str) -> set[str]:
    forms = {key, key + "/"}
    host, slash, rest = key.partition("/")
    for scheme in ("http", "https", "ftp", "hxxp", "hxxps"):
        hosts = [host]
        if scheme in _DEFAULT_PORTS and ":" not in host.rsplit("]", 1)[-1]:
            hosts.append(host + _DEFAULT_PORTS[scheme])
        for h in hosts:
            base = f"{scheme}://{h}{slash}{rest}"
            forms.add(base)
            if not rest:
                forms.add(f"{scheme}://{h}/")
    return forms


IndicatorKey = tuple[str, str]  # (indicator kind, normalised value), as match() gives them
# Values asked for in one query while resolving (bound parameters stay few on every engine).
RESOLVE_BATCH = 500


def _stored_forms(kind: str, key: str) -> list[tuple[str, str, tuple[str, ...], str | None]]:
    """(column, stored value, attribute types, value2 or None) of the attributes that hold
    an indicator key."""
    if kind == "ip_port":
        ip, _, port = key.rpartition("|")
        return [("value1", v, KIND_TYPES["ip_port"], port) for v in (ip, f"[{ip}]")]
    if kind == "hash":
        return [
            ("value1", key, KIND_TYPES["hash"], None),
            ("value2", key, KIND_TYPES["file_hash"], None),
        ]
    if kind == "url":
        return [("value1", form, KIND_TYPES["url"], None) for form in sorted(_url_forms(key))]
    return [("value1", key, KIND_TYPES[kind], None)]


class Resolution:
    """Resolves indicator keys for one reader: which attributes it may see hold them. The
    queries are built once; each batch of keys then costs one value query (per column),
    the access rules and the scope over the rows found (by primary key), the warninglists
    and the tags, each once."""

    def __init__(self, ctx: Ctx, scope: Scope) -> None:
        self.ctx = ctx
        self.scope = scope
        ids: sa.BindParameter[list[int]] = sa.bindparam("ids", expanding=True)
        self._rules = (
            sa.select(
                Attribute.id,
                Attribute.uuid,
                Attribute.type,
                Attribute.value1,
                Attribute.value2,
                Event.id,
                Event.uuid,
                Event.info,
                Event.threat_level_id,
            )
            .join(Event, Event.id == Attribute.event_id)
            .where(Attribute.id.in_(ids), *indicator_conditions(ctx, scope))
        )
        # Only the indexed value key is in a value query, so both engines read it from the
        # value index; the exact comparison follows here on the few rows it returns.
        self._values = {
            column: sa.select(
                Attribute.id, Attribute.type, Attribute.value1, Attribute.value2
            ).where(value_key(col).in_(sa.bindparam("keys", expanding=True)))
            for column, col in (("value1", Attribute.value1), ("value2", Attribute.value2))
        }
        visible = tag_condition(ctx.principal)
        self._tags = {
            owner: sa.select(link, Tag.name)
            .join(Tag, Tag.id == model.tag_id)
            .where(link.in_(sa.bindparam("ids", expanding=True)), visible)
            for owner, model, link in (
                ("a", AttributeTag, AttributeTag.attribute_id),
                ("e", EventTag, EventTag.event_id),
            )
        }

    def _holding(
        self, session: Session, keys: Iterable[IndicatorKey]
    ) -> dict[int, set[IndicatorKey]]:
        """The attributes (of each kind's types) holding the keys: id -> the keys it holds."""
        wanted: dict[tuple[str, str], list[tuple[IndicatorKey, tuple[str, ...], str | None]]]
        wanted = {}
        for k in keys:
            for column, value, types, value2 in _stored_forms(*k):
                wanted.setdefault((column, value), []).append((k, types, value2))
        out: dict[int, set[IndicatorKey]] = {}
        for column, query in self._values.items():
            prefixes = sorted({v[:VALUE_KEY_LEN] for c, v in wanted if c == column})
            for part in _batches(prefixes):
                for attr_id, attr_type, v1, v2 in session.execute(query, {"keys": part}):
                    held = v1 if column == "value1" else v2
                    for k, types, value2 in wanted.get((column, held), ()):
                        if attr_type in types and (value2 is None or v2 == value2):
                            out.setdefault(attr_id, set()).add(k)
        return out

    def __call__(
        self, session: Session, keys: Iterable[IndicatorKey]
    ) -> dict[IndicatorKey, list[IndicatorRef]]:
        out: dict[IndicatorKey, list[IndicatorRef]] = {k: [] for k in keys}
        held = self._holding(session, out)
        if not held:
            return out
        rows: list[Any] = []
        for part in _batches(sorted(held)):
            rows.extend(session.execute(self._rules, {"ids": part}))
        rows.sort(key=lambda r: r[0])
        if rows and not self.scope.include_warninglisted:
            typed = warninglists.matcher(session).typed_mask
            rows = [r for r in rows if not typed(r[2], f"{r[3]}|{r[4]}" if r[4] else r[3])]
        if not rows:
            return out
        tags = self._tag_names(session, [r[0] for r in rows], sorted({r[5] for r in rows}))
        for r in rows:
            ref: IndicatorRef | None = None
            for kind, key in sorted(held[r[0]]):
                # The value query compared stored values; URLs and domains hold the key
                # only once normalised as the index normalises them.
                if kind == "url" and url_key(r[3]) != key:
                    continue
                if kind == "domain" and r[3].lower().rstrip(".") != key:
                    continue
                if ref is None:
                    names = set(tags.get(("a", r[0]), [])) | set(tags.get(("e", r[5]), []))
                    ref = IndicatorRef(
                        attribute_id=r[0],
                        attribute_uuid=r[1],
                        type=r[2],
                        value=f"{r[3]}|{r[4]}" if r[4] else r[3],
                        event_id=r[5],
                        event_uuid=r[6],
                        event_info=r[7],
                        threat_level_id=r[8],
                        tags=tuple(sorted(names)),
                    )
                out[(kind, key)].append(ref)
        return out

    def _tag_names(
        self, session: Session, attribute_ids: list[int], event_ids: list[int]
    ) -> dict[tuple[str, int], list[str]]:
        out: dict[tuple[str, int], list[str]] = {}
        for owner, ids in (("a", attribute_ids), ("e", event_ids)):
            for part in _batches(ids):
                for owner_id, name in session.execute(self._tags[owner], {"ids": part}):
                    out.setdefault((owner, owner_id), []).append(name)
        return out


def _batches(values: list[Any]) -> Iterator[list[Any]]:
    for i in range(0, len(values), RESOLVE_BATCH):
        yield values[i : i + RESOLVE_BATCH]


def resolve(
    session: Session, ctx: Ctx, scope: Scope, keys: Iterable[IndicatorKey]
) -> dict[IndicatorKey, list[IndicatorRef]]:
    """The attributes the reader may see that hold each indicator key."""
    return Resolution(ctx, scope)(session, keys)
