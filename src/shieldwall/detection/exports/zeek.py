"""Zeek's Intel framework file: `#fields indicator indicator_type meta.source meta.desc
meta.url`, tab separated, one line per (indicator, Intel type)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

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


def intel_items(i: Indicator) -> list[tuple[str, str]]:
    """(indicator, Intel type) pairs for an attribute."""
    t = i.type
    out: list[tuple[str, str] | None] = []
    if t in ("ip-src", "ip-dst", "ip-src|port", "ip-dst|port"):
        out.append(_address(i.value1))
    elif t in ("domain", "hostname", "hostname|port", "domain|ip"):
        name = r.hostname(i.value1)
        out.append((name, _DOMAIN) if name else None)
        if t == "domain|ip":
            out.append(_address(i.value2))
    elif t == "url":
        v = i.value.strip()
        # Zeek compares the URL it builds from a request: host and path, no scheme.
        out.append((v.split("://", 1)[1] if "://" in v else v, _URL))
    elif t in ("email", "email-src", "email-dst"):
        out.append((i.value.strip(), _EMAIL))
    elif t in ("md5", "sha1", "sha256"):
        out.append((i.value1.strip().lower(), _HASH))
    elif t == "filename":
        out.append((i.value1, _FILE_NAME))
    elif t in ("filename|md5", "filename|sha1", "filename|sha256", "malware-sample"):
        out.append((i.value1, _FILE_NAME))
        out.append((i.value2.strip().lower(), _HASH))
    elif t == "user-agent":
        out.append((i.value, _SOFTWARE))
    elif t.startswith("x509-fingerprint-"):
        out.append((i.value.strip().lower(), _CERT))
    elif t == "target-user":
        out.append((i.value, _USER))
    return [x for x in out if x is not None and x[0] and not _unsafe(x[0])]


def _unsafe(text: str) -> bool:
    # The input framework splits on tabs and lines; a value holding either cannot be loaded.
    return "\t" in text or "\n" in text or "\r" in text


def _field(text: str) -> str:
    text = " ".join(text.split())
    return text if text else "-"


def intel_file(batches: Iterable[list[Indicator]], base_url: str) -> Iterator[bytes]:
    yield HEADER.encode()
    for batch in batches:
        lines = []
        for i in batch:
            items = intel_items(i)
            if not items:
                continue
            source = f"shieldwall e{i.event_id}"
            desc = _field(f"{i.type} ({i.category}): {i.event_info}")
            url = f"{base_url}/events/view/{i.event_id}"
            for indicator, kind in items:
                lines.append(f"{indicator}\t{kind}\t{source}\t{desc}\t{url}")
        if lines:
            yield ("\n".join(lines) + "\n").encode()
