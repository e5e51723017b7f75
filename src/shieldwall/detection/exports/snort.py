"""Snort 3 rules: addresses in the rule header, DNS names as the query's wire-format labels
(so a domain also matches its subdomains), HTTP hosts, URIs and user agents through Snort 3's
HTTP buffers, SMTP senders and recipients. Snort 3 options take their modifiers after a
comma (`content:"x", nocase;`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from shieldwall.detection.exports import rules as r
from shieldwall.detection.exports.indicators import Indicator
from shieldwall.detection.exports.suricata import CLASSTYPE, Options

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


def _tail(o: Options, i: Indicator, variant: int) -> str:
    return (
        f"reference:url,{o.base_url}/events/view/{i.event_id}; classtype:{CLASSTYPE}; "
        f"sid:{r.sid(o.sid_base, i, variant)}; rev:{max(i.timestamp_epoch, 1)}; "
        f"metadata:shieldwall_event {i.event_uuid}, shieldwall_attribute {i.uuid};)"
    )


def _msg(i: Indicator, what: str) -> str:
    return f'msg:"{r.message(i, what)}";'


def _labels(name: str) -> str:
    """A DNS name in wire format as a content string: each label after its length byte."""
    return "".join(f"|{len(label):02X}|{r.content(label)}" for label in name.split(".")) + "|00|"


def _address_rules(
    o: Options, i: Indicator, value: str, port: str | None, out: bool, v: int
) -> list[str]:
    addr = r.address(value)
    if addr is None:
        return []
    what = "to IP" if out else "from IP"
    if port is None:
        head = f"$HOME_NET any -> {addr} any" if out else f"{addr} any -> $HOME_NET any"
        return [f"alert ip {head} ({_msg(i, what)} " + _tail(o, i, v)]
    head = f"$HOME_NET any -> {addr} {port}" if out else f"{addr} {port} -> $HOME_NET any"
    return [
        f"alert tcp {head} ({_msg(i, what)} " + _tail(o, i, v),
        f"alert udp {head} ({_msg(i, what)} " + _tail(o, i, v + 1),
    ]


def indicator_rules(o: Options, i: Indicator) -> list[str]:
    t = i.type
    if t in ("ip-dst", "ip-src"):
        return _address_rules(o, i, i.value1, None, t == "ip-dst", 0)
    if t in ("ip-dst|port", "ip-src|port"):
        return _address_rules(o, i, i.value1, r.port(i.value2), t == "ip-dst|port", 0)
    if t in ("domain", "hostname", "domain|ip", "hostname|port"):
        name = r.hostname(i.value1)
        if name is None or not all(0 < len(x) <= 63 for x in name.split(".")):
            return []
        wire = _labels(name)
        out = [
            f"alert udp $HOME_NET any -> any 53 ({_msg(i, 'DNS query')} "
            f'content:"{wire}", nocase; ' + _tail(o, i, 0),
            f"alert http $HOME_NET any -> any any ({_msg(i, 'HTTP host')} "
            f'http_header:field host; content:"{r.content(name)}", nocase; ' + _tail(o, i, 1),
        ]
        if t == "domain|ip":
            out += _address_rules(o, i, i.value2, None, True, 3)
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
            f"alert http $HOME_NET any -> any any ({_msg(i, 'HTTP')} {' '.join(parts)} "
            + _tail(o, i, 0)
        ]
    if t == "uri":
        return [
            f"alert http $HOME_NET any -> any any ({_msg(i, 'HTTP URI')} http_raw_uri; "
            f'content:"{r.content(i.value)}"; ' + _tail(o, i, 0)
        ]
    if t == "user-agent":
        return [
            f"alert http $HOME_NET any -> any any ({_msg(i, 'HTTP user agent')} "
            f'http_header:field user-agent; content:"{r.content(i.value)}"; ' + _tail(o, i, 0)
        ]
    if t in ("email-src", "email-dst"):
        verb = "MAIL FROM|3A|" if t == "email-src" else "RCPT TO|3A|"
        return [
            f"alert tcp any any -> any 25 ({_msg(i, 'SMTP')} flow:established,to_server; "
            f'content:"{verb}", nocase; content:"{r.content(i.value.strip())}", nocase, '
            "distance 0, within 320; " + _tail(o, i, 0)
        ]
    return []


def rules(o: Options, batches: Iterable[list[Indicator]], header: str) -> Iterator[bytes]:
    yield header.encode()
    for batch in batches:
        lines = [line for i in batch for line in indicator_rules(o, i)]
        if lines:
            yield ("\n".join(lines) + "\n").encode()
