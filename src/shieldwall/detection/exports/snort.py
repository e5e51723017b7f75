"""Snort 3 rules: addresses in the rule header, DNS names as the query's wire-format labels
(so a domain also matches its subdomains), HTTP hosts, URIs and user agents through Snort 3's
HTTP buffers, SMTP senders and recipients. Snort 3 options take their modifiers after a
comma (`content:"x", nocase;`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from shieldwall.detection.exports import rules as r
from shieldwall.detection.exports.indicators import Indicator
from shieldwall.detection.exports.suricata import Options, address_rules, msg, tail
from shieldwall.detection.exports.suricata import rules as suricata_rules

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
        "uri",
        "user-agent",
        "email-src",
        "email-dst",
    }
)


def _labels(name: str) -> str:
    """A DNS name in wire format as a content string: each label after its length byte."""
    return "".join(f"|{len(label):02X}|{r.content(label)}" for label in name.split(".")) + "|00|"


def indicator_rules(o: Options, i: Indicator) -> list[str]:
    t = i.type
    if t in ("ip-dst", "ip-src"):
        return address_rules(o, i, i.value1, None, t == "ip-dst", 0)
    if t in ("ip-dst|port", "ip-src|port"):
        return address_rules(o, i, i.value1, r.port(i.value2), t == "ip-dst|port", 0)
    if t in ("domain", "hostname", "domain|ip", "hostname|port"):
        name = r.hostname(i.value1)
        if name is None or not all(0 < len(x) <= 63 for x in name.split(".")):
            return []
        wire = _labels(name)
        out = [
            f"alert udp $HOME_NET any -> any 53 ({msg(i, 'DNS query')} "
            f'content:"{wire}", nocase; ' + tail(o, i, 0),
            f"alert http $HOME_NET any -> any any ({msg(i, 'HTTP host')} "
            f'http_header:field host; content:"{r.content(name)}", nocase; ' + tail(o, i, 1),
        ]
        if t == "domain|ip":
            out += address_rules(o, i, i.value2, None, True, 3)
        return out
    if t == "url":
        host, path = r.url_parts(i.value)
        parts = []
        if host:
            parts.append(f'http_header:field host; content:"{r.content(host)}", nocase;')
        if path and path != "/":
            parts.append(f'http_raw_uri; content:"{r.content(path)}";')
        if not parts:
            return []
        return [
            f"alert http $HOME_NET any -> any any ({msg(i, 'HTTP')} {' '.join(parts)} "
            + tail(o, i, 0)
        ]
    if t == "uri":
        return [
            f"alert http $HOME_NET any -> any any ({msg(i, 'HTTP URI')} http_raw_uri; "
            f'content:"{r.content(i.value)}"; ' + tail(o, i, 0)
        ]
    if t == "user-agent":
        return [
            f"alert http $HOME_NET any -> any any ({msg(i, 'HTTP user agent')} "
            f'http_header:field user-agent; content:"{r.content(i.value)}"; ' + tail(o, i, 0)
        ]
    if t in ("email-src", "email-dst"):
        verb = "MAIL FROM|3A|" if t == "email-src" else "RCPT TO|3A|"
        return [
            f"alert tcp any any -> any 25 ({msg(i, 'SMTP')} flow:established,to_server; "
            f'content:"{verb}", nocase; content:"{r.content(i.value.strip())}", nocase, '
            "distance 0, within 320; " + tail(o, i, 0)
        ]
    return []


def rules(o: Options, batches: Iterable[list[Indicator]], header: str) -> Iterator[bytes]:
    return suricata_rules(o, batches, header, indicator_rules)
