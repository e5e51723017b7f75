"""What the Suricata and Snort rule writers share: stable sids, contents and messages that
the rule parsers accept whatever the indicator holds, and the parts of a URL."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from shieldwall.detection.exports.indicators import Indicator

# Each attribute owns a block of sids: sid = base + attribute id * SID_STRIDE + variant, so
# a rule keeps its sid across exports and attributes never share one. An attribute yields
# at most SID_STRIDE rules (a domain: DNS, TLS and HTTP; a domain|ip: those and the address).
SID_STRIDE = 4

# Bytes a content string must carry as hex: the rule syntax's own characters and anything
# outside printable ASCII.
_SPECIAL = frozenset(b'";\\|:')


def sid(base: int, indicator: Indicator, variant: int = 0) -> int:
    return base + indicator.id * SID_STRIDE + variant


def content(text: str) -> str:
    """A content string for a rule: printable ASCII as it is, the rest as |hex|."""
    out: list[str] = []
    hexed: list[str] = []
    for b in text.encode():
        if 32 <= b < 127 and b not in _SPECIAL:
            if hexed:
                out.append("|" + " ".join(hexed) + "|")
                hexed = []
            out.append(chr(b))
        else:
            hexed.append(f"{b:02X}")
    if hexed:
        out.append("|" + " ".join(hexed) + "|")
    return "".join(out)


def message(indicator: Indicator, what: str) -> str:
    """msg text: the event, what the rule looks at, and the value, kept to characters every
    parser takes inside a quoted option."""
    value = "".join(c if 32 <= ord(c) < 127 and c not in '";\\|' else "_" for c in indicator.value)
    if len(value) > 120:
        value = value[:117] + "..."
    return f"Shieldwall e{indicator.event_id} {what} {indicator.type} {value}"


def address(value: str) -> str | None:
    """An IP address or network for a rule header ([..] for IPv6), or None when the value
    is neither."""
    try:
        net = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return None
    text = str(net.network_address) if net.num_addresses == 1 else str(net)
    return f"[{text}]" if net.version == 6 else text


def port(value: str) -> str | None:
    v = value.strip()
    return v if v.isdigit() and 0 < int(v) < 65536 else None


def hostname(value: str) -> str | None:
    """A DNS name as sensors see it (lower case, no trailing dot), or None."""
    v = value.strip().rstrip(".").lower()
    if not v or len(v) > 253 or any(c in v for c in " \t\r\n/\\\"';|:"):
        return None
    return v


def url_parts(value: str) -> tuple[str | None, str]:
    """(host, path with query) of a URL; a URL without a scheme is read as http."""
    v = value.strip()
    if "://" not in v:
        v = "http://" + v
    try:
        parts = urlsplit(v)
        host = parts.hostname
    except ValueError:
        return None, ""
    path = parts.path or ""
    if parts.query:
        path += "?" + parts.query
    return (hostname(host) if host else None), path
