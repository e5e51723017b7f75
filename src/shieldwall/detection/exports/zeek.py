"""Zeek's Intel framework file: `#fields indicator indicator_type meta.source meta.desc
meta.url`, tab separated, one line per (indicator, Intel type)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from shieldwall.detection.exports import rules as r
from shieldwall.detection.exports.indicators import Indicator

HEADER = "#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc\tmeta.url\n"

_ADDR = "Intel::ADDR"
_SUBNET = "Intel::SUBNET"
_DOMAIN = "Intel::DOMAIN"
_URL = "Intel::URL"
_EMAIL = "Intel::EMAIL"
_HASH = "Intel::FILE_HASH"
_FILE_NAME = "Intel::FILE_NAME"
_SOFTWARE = "Intel::SOFTWARE"
_CERT = "Intel::CERT_HASH"
_USER = "Intel::USER_NAME"

TYPES = frozenset(
    {
        "ip-src",
        "ip-dst",
        "ip-src|port",
        "ip-dst|port",
        "domain",
        "hostname",
        "domain|ip",
        "hostname|port",
        "url",
        "email",
        "email-src",
        "email-dst",
        "md5",
        "sha1",
        "sha256",
        "filename",
        "filename|md5",
        "filename|sha1",
        "filename|sha256",
        "malware-sample",
        "user-agent",
        "x509-fingerprint-sha1",
        "x509-fingerprint-sha256",
        "x509-fingerprint-md5",
        "target-user",
    }
)


def _address(value: str) -> tuple[str, str] | None:
    addr = r.address(value)
    if addr is None:
        return None
    addr = addr.strip("[]")
    return (addr, _SUBNET) if "/" in addr else (addr, _ADDR)


def _unsafe(text: str) -> bool:
    # The input framework splits on tabs and lines; a value holding either cannot be loaded.
    return "\t" in text or "\n" in text or "\r" in text


def _loadable(text: str, kind: str) -> list[tuple[str, str]]:
    return [(text, kind)] if text and not _unsafe(text) else []


# One function a type: the exports read a million indicators, and a lookup by type costs
# less than a chain of tests. Addresses and host names come out of their parsers with
# neither blanks nor control characters; the other values are checked.


def _ip_items(i: Indicator) -> list[tuple[str, str]]:
    item = _address(i.value1)
    return [item] if item else []


def _name_items(i: Indicator) -> list[tuple[str, str]]:
    name = r.hostname(i.value1)
    out = [(name, _DOMAIN)] if name else []
    if i.type == "domain|ip":
        item = _address(i.value2)
        if item:
            out.append(item)
    return out


def _url_items(i: Indicator) -> list[tuple[str, str]]:
    v = i.value.strip()
    # Zeek compares the URL it builds from a request: host and path, no scheme.
    return _loadable(v.split("://", 1)[1] if "://" in v else v, _URL)


def _email_items(i: Indicator) -> list[tuple[str, str]]:
    return _loadable(i.value.strip(), _EMAIL)


def _hash_items(i: Indicator) -> list[tuple[str, str]]:
    return _loadable(i.value1.strip().lower(), _HASH)


def _file_name_items(i: Indicator) -> list[tuple[str, str]]:
    return _loadable(i.value1, _FILE_NAME)


def _file_items(i: Indicator) -> list[tuple[str, str]]:
    return _loadable(i.value1, _FILE_NAME) + _loadable(i.value2.strip().lower(), _HASH)


def _software_items(i: Indicator) -> list[tuple[str, str]]:
    return _loadable(i.value, _SOFTWARE)


def _cert_items(i: Indicator) -> list[tuple[str, str]]:
    return _loadable(i.value.strip().lower(), _CERT)


def _user_items(i: Indicator) -> list[tuple[str, str]]:
    return _loadable(i.value, _USER)


_ITEMS: dict[str, Callable[[Indicator], list[tuple[str, str]]]] = {
    **dict.fromkeys(("ip-src", "ip-dst", "ip-src|port", "ip-dst|port"), _ip_items),
    **dict.fromkeys(("domain", "hostname", "hostname|port", "domain|ip"), _name_items),
    "url": _url_items,
    **dict.fromkeys(("email", "email-src", "email-dst"), _email_items),
    **dict.fromkeys(("md5", "sha1", "sha256"), _hash_items),
    "filename": _file_name_items,
    **dict.fromkeys(
        ("filename|md5", "filename|sha1", "filename|sha256", "malware-sample"), _file_items
    ),
    "user-agent": _software_items,
    **dict.fromkeys(
        ("x509-fingerprint-sha1", "x509-fingerprint-sha256", "x509-fingerprint-md5"), _cert_items
    ),
    "target-user": _user_items,
}
assert set(_ITEMS) == TYPES


def _no_items(i: Indicator) -> list[tuple[str, str]]:
    return []


def intel_items(i: Indicator) -> list[tuple[str, str]]:
    """(indicator, Intel type) pairs for an attribute."""
    return _ITEMS.get(i.type, _no_items)(i)


def _field(text: str) -> str:
    if "\t" in text or "\n" in text or "\r" in text:
        text = " ".join(text.split())
    return text if text else "-"


def intel_file(batches: Iterable[list[Indicator]], base_url: str) -> Iterator[bytes]:
    yield HEADER.encode()
    items_of = _ITEMS.get
    # An event's source, description prefix and link are the same for all its attributes,
    # and so is the end of a line for all its attributes of one type and category.
    event_id, source, info, url = -1, "", "", ""
    ends: dict[tuple[str, str], str] = {}
    for batch in batches:
        lines: list[str] = []
        add = lines.append
        for i in batch:
            items = items_of(i.type, _no_items)(i)
            if not items:
                continue
            if i.event_id != event_id:
                event_id = i.event_id
                source = f"shieldwall e{event_id}"
                info = " ".join(i.event_info.split())
                url = f"{base_url}/events/view/{event_id}"
                ends = {}
            key = (i.type, i.category)
            end = ends.get(key)
            if end is None:
                end = ends[key] = f"\t{source}\t{_field(f'{i.type} ({i.category}): {info}')}\t{url}"
            for indicator, kind in items:
                add(f"{indicator}\t{kind}{end}")
        if lines:
            yield ("\n".join(lines) + "\n").encode()
