"""Indicators from pasted text (reports, e-mails, chat, freetext feeds), typed as MISP types.

Recognition is ioc-finder's (its grammars, TLD list and ioc-fanger's refanging of hxxp,
[.], [at] and friends). As MISP's freetext import does, the text is read token by token (a
token is what lies between blanks, commas, semicolons, angle brackets and quotes), so each
token becomes at most one kind of indicator: "203.0.113.5:8080" an ip-dst|port and not also
an ip-dst, an e-mail address not also its domain. The MISP type of each kind follows MISP:
ip-dst (with a CIDR too), ip-dst|port, domain for two labels and hostname for more, url,
email-src, the hash types by length, ssdeep, vulnerability. Values are normalised as they
are stored, and each appears once.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import ioc_fanger
from sqlalchemy.orm import Session

from shieldwall.context import Ctx
from shieldwall.intel import events as ev
from shieldwall.intel.common import editable_event
from shieldwall.intel.errors import InvalidInput
from shieldwall.intel.models import Attribute
from shieldwall.intel.schemas import AttributeIn
from shieldwall.intel.types import split_and_normalise, type_table


@dataclass(frozen=True)
class Indicator:
    value: str  # normalised, composite parts joined by "|"
    type: str  # the MISP type chosen
    types: tuple[str, ...]  # the MISP types that would also fit, the chosen one first
    category: str
    to_ids: bool


# ioc-finder's kinds, most specific first: a token yields the values of the first kind found
# in it (a URL's host is not also a domain, an address with a port not also an address).
_KINDS: tuple[str, ...] = (
    "urls",
    "email_addresses",
    "socket_addresses",
    "ipv4_cidrs",
    "ipv6_cidrs",
    "ipv4s",
    "ipv6s",
    "sha512s",
    "sha256s",
    "sha1s",
    "md5s",
    "ssdeeps",
    "cves",
    "domains",
)

# The MISP types each kind may be, the default first (as MISP's freetext import offers them).
_TYPES: dict[str, tuple[str, ...]] = {
    "urls": ("url",),
    "email_addresses": ("email-src", "email", "email-dst", "target-email"),
    "socket_addresses": ("ip-dst|port", "ip-src|port"),
    "ipv4_cidrs": ("ip-dst", "ip-src"),
    "ipv6_cidrs": ("ip-dst", "ip-src"),
    "ipv4s": ("ip-dst", "ip-src"),
    "ipv6s": ("ip-dst", "ip-src"),
    "sha512s": ("sha512",),
    "sha256s": ("sha256", "authentihash", "sha512/256", "x509-fingerprint-sha256"),
    "sha1s": ("sha1", "pehash", "x509-fingerprint-sha1", "cdhash"),
    "md5s": ("md5", "imphash", "x509-fingerprint-md5", "ja3-fingerprint-md5"),
    "ssdeeps": ("ssdeep",),
    "cves": ("vulnerability",),
    "domains": ("domain", "filename"),
}
_HOSTNAME_TYPES = ("hostname", "domain", "url", "filename")

# MISP splits freetext on blanks, commas, semicolons and angle brackets; quotes and
# brackets around a token are trimmed.
_SPLIT = re.compile(r"[\s,;<>\"]+")
_TRIM = "'\"().,{}"

# Whether a token can hold an indicator at all: most words of prose cannot, and skipping
# them keeps the parser off the hot path.
_HEX = re.compile(r"^(?:0x)?[0-9A-Fa-f]{32,128}$")
_WORTH = re.compile(r"[.:@/\\[(]|^cve-", re.IGNORECASE)

# Text is handed over in pieces of about this many characters, cut at line ends.
CHUNK = 1 << 16


def _candidates(token: str) -> list[tuple[str, str]]:
    """(kind, raw value) pairs found in one token: the values of its most specific kind."""
    # Imported here: its grammars take a second to build, and most commands never need them.
    from ioc_finder import find_iocs

    found: Any = find_iocs(
        token,
        included_ioc_types=_KINDS,
        parse_domain_from_url=False,
        parse_from_url_path=False,
        parse_domain_from_email_address=False,
        parse_address_from_cidr=False,
        parse_domain_name_from_xmpp_address=False,
    )
    for kind in _KINDS:
        values = found.get(kind) or []
        if values:
            return [(kind, v) for v in sorted(values)]
    return []


def _typed(kind: str, raw: str) -> tuple[str, tuple[str, ...], str] | None:
    """The MISP type, candidate types and stored value of a found value; None when the value
    does not hold as that type."""
    types = _TYPES[kind]
    value = raw
    if kind == "socket_addresses":
        host, _, port = raw.rpartition(":")
        value = f"{host.strip('[]')}|{port}"
    elif kind == "domains" and raw.rstrip(".").count(".") >= 2:
        types = _HOSTNAME_TYPES
    try:
        v1, v2 = split_and_normalise(types[0], value)
    except InvalidInput:
        return None
    return types[0], types, f"{v1}|{v2}" if v2 else v1


def _fast(token: str) -> tuple[str, str] | None:
    """(kind, value) of a token that is plainly an address, a block or a hex hash: the bulk
    of feeds, recognised without the grammars (and before refanging, which would read the
    "::/" of an IPv6 block as a URL's "://")."""
    if _HEX.match(token):
        digits = token[2:] if token[:2].lower() == "0x" else token
        kind = _HEX_KINDS.get(len(digits))
        return (kind, digits.lower()) if kind else None
    if ":" in token or token[:1].isdigit():
        try:
            if "/" in token:
                net = ipaddress.ip_network(token, strict=False)
                return ("ipv4_cidrs" if net.version == 4 else "ipv6_cidrs", token)
            addr = ipaddress.ip_address(token)
        except ValueError:
            return None
        return ("ipv4s" if addr.version == 4 else "ipv6s", token)
    return None


_HEX_KINDS = {32: "md5s", 40: "sha1s", 64: "sha256s", 128: "sha512s"}


class _Extractor:
    """Keeps what was already found, so a value appears once across all the pieces."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, str]] = set()
        self.tokens: dict[str, list[tuple[str, str]]] = {}
        self.table = type_table()

    def _found(self, token: str) -> list[tuple[str, str]]:
        fast = _fast(token)
        if fast is not None:
            return [fast]
        if not _WORTH.search(token):
            return []
        found = self.tokens.get(token)
        if found is None:
            found = _candidates(ioc_fanger.fang(token))
            if len(self.tokens) > 50_000:  # the memo is for repeats, not a second copy
                self.tokens.clear()
            self.tokens[token] = found
        return found

    def feed(self, text: str) -> Iterator[Indicator]:
        for token in _SPLIT.split(text):
            token = token.strip(_TRIM)
            if len(token) < 3:
                continue
            for kind, raw in self._found(token):
                typed = _typed(kind, raw)
                if typed is None:
                    continue
                attr_type, types, value = typed
                key = (attr_type, value)
                if key in self.seen:
                    continue
                self.seen.add(key)
                yield Indicator(
                    value=value,
                    type=attr_type,
                    types=types,
                    category=self.table.default_category[attr_type],
                    to_ids=self.table.default_to_ids.get(attr_type, False),
                )


def extract(text: str) -> list[Indicator]:
    """Every indicator in the text, once, in the order they first appear."""
    return list(iter_indicators([text]))


def iter_indicators(pieces: Iterable[str]) -> Iterator[Indicator]:
    """Indicators from text arriving in pieces (lines of a file, a download), each once.
    Memory holds one piece and the values found, not the text."""
    extractor = _Extractor()
    buffered: list[str] = []
    size = 0
    for piece in pieces:
        buffered.append(piece)
        size += len(piece)
        if size >= CHUNK:
            text = "".join(buffered)
            # Cut at the last line end so a token is never split across two pieces.
            cut = text.rfind("\n") + 1 or len(text)
            yield from extractor.feed(text[:cut])
            buffered, size = [text[cut:]], len(text) - cut
    if buffered:
        yield from extractor.feed("".join(buffered))


Adhere = bool | Literal["soft"]


def adhere_flag(value: Any) -> Adhere:
    """MISP's adhereToWarninglists: false, true (drop hits) or "soft" (keep, not for IDS)."""
    if value in (None, "", False, 0, "0", "false", "False"):
        return False
    if value in (True, 1, "1", "true", "True"):
        return True
    if value == "soft":
        return "soft"
    raise InvalidInput("adhereToWarninglists is false, true or soft", field="adhereToWarninglists")


def apply_warninglists(session: Session, found: list[Indicator], adhere: Adhere) -> list[Indicator]:
    """Drop (true) or mark not for IDS ("soft") the values on an enabled warninglist."""
    if not adhere or not found:
        return found
    from shieldwall.knowledge.warninglists import warned

    # As MISP does: a list counts for the attribute types it names.
    hits = warned(session, [(i.type, i.value) for i in found])
    if adhere == "soft":
        return [
            Indicator(i.value, i.type, i.types, i.category, False) if hit else i
            for i, hit in zip(found, hits, strict=True)
        ]
    return [i for i, hit in zip(found, hits, strict=True) if not hit]


def import_freetext(
    session: Session,
    ctx: Ctx,
    event_ref: str | int,
    text: str,
    *,
    distribution: int = 5,
    adhere: Adhere = False,
) -> list[Attribute]:
    """MISP's freetext import: the indicators in the text added to an event (values the
    event already holds are skipped). Returns the attributes added."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("there is no text to import", field="value")
    if distribution not in (0, 1, 2, 3, 5):
        raise InvalidInput("distribution is 0 to 3, or 5 (as the event)", field="distribution")
    event = editable_event(session, ctx, event_ref)
    found = apply_warninglists(session, extract(text), adhere)
    if not found:
        return []
    items = [
        AttributeIn(
            type=i.type,
            value=i.value,
            category=i.category,
            to_ids=i.to_ids,
            distribution=distribution,
        )
        for i in found
    ]
    return ev.add_attributes(session, ctx, event.id, items, break_on_duplicate=False)
