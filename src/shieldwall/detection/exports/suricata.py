"""Suricata: one rule per indicator (and per protocol it shows in), a sid map, and the
dataset form for large sets (value files Suricata loads, and the few rules that load them).

Rules use Suricata 7 keywords: dns.query, tls.sni and http.host with `dotprefix` so that a
domain also matches its subdomains, ip.src/ip.dst with datasets of type ip, and filemd5 /
filesha1 / filesha256 lists for file hashes (which have no per-rule form)."""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from shieldwall.detection.exports import rules as r
from shieldwall.detection.exports.indicators import Indicator

CLASSTYPE = "trojan-activity"

ADDRESS_TYPES = frozenset({"ip-src", "ip-dst", "ip-src|port", "ip-dst|port"})
NAME_TYPES = frozenset({"domain", "hostname", "domain|ip", "hostname|port"})
HASH_TYPES = frozenset(
    {
        "md5",
        "sha1",
        "sha256",
        "filename|md5",
        "filename|sha1",
        "filename|sha256",
        "malware-sample",
    }
)
OTHER_TYPES = frozenset(
    {
        "url",
        "uri",
        "user-agent",
        "ja3-fingerprint-md5",
        "ja3s-fingerprint-md5",
        "email-src",
        "email-dst",
        "snort",
    }
)
RULE_TYPES = ADDRESS_TYPES | NAME_TYPES | OTHER_TYPES
DATASET_TYPES = ADDRESS_TYPES | NAME_TYPES | HASH_TYPES | frozenset({"url", "user-agent"})


@dataclass(frozen=True)
class Options:
    sid_base: int
    base_url: str


def tail(o: Options, i: Indicator, variant: int) -> str:
    """A rule's closing options (Suricata and Snort 3 write them alike)."""
    return (
        f"reference:url,{o.base_url}/events/view/{i.event_id}; classtype:{CLASSTYPE}; "
        f"sid:{r.sid(o.sid_base, i, variant)}; rev:{max(i.epoch, 1)}; "
        f"metadata:shieldwall_event {i.event_uuid}, shieldwall_attribute {i.uuid};)"
    )


def msg(i: Indicator, what: str) -> str:
    return f'msg:"{r.message(i, what)}";'


def _name_rules(o: Options, i: Indicator, name: str, exact: bool) -> list[str]:
    c = r.content(name)
    if exact:  # the host itself
        match = f'content:"{c}"; nocase; startswith; endswith;'
        http = f'content:"{c}"; startswith; endswith;'
    else:  # the domain and its subdomains
        match = f'dotprefix; content:".{c}"; nocase; endswith;'
        http = f'dotprefix; content:".{c}"; endswith;'
    return [
        f"alert dns $HOME_NET any -> any any ({msg(i, 'DNS query')} dns.query; {match} "
        + tail(o, i, 0),
        f"alert tls $HOME_NET any -> any any ({msg(i, 'TLS SNI')} tls.sni; {match} "
        + tail(o, i, 1),
        f"alert http $HOME_NET any -> any any ({msg(i, 'HTTP host')} http.host; {http} "
        + tail(o, i, 2),
    ]


def address_rules(
    o: Options, i: Indicator, value: str, port: str | None, out: bool, v: int
) -> list[str]:
    addr = r.address(value)
    if addr is None:
        return []
    what = "to IP" if out else "from IP"
    if port is None:
        head = f"$HOME_NET any -> {addr} any" if out else f"{addr} any -> $HOME_NET any"
        return [f"alert ip {head} ({msg(i, what)} " + tail(o, i, v)]
    head = f"$HOME_NET any -> {addr} {port}" if out else f"{addr} {port} -> $HOME_NET any"
    return [
        f"alert tcp {head} ({msg(i, what)} " + tail(o, i, v),
        f"alert udp {head} ({msg(i, what)} " + tail(o, i, v + 1),
    ]


_SID = re.compile(r"\bsid\s*:\s*\d+\s*;")
_REV = re.compile(r"\brev\s*:\s*\d+\s*;")


def _stored_rule(o: Options, i: Indicator) -> list[str]:
    """A rule stored as a `snort` attribute, with this export's sid and rev."""
    text = " ".join(i.value.split())
    if not text.endswith(")") or "(" not in text:
        return []
    body = _REV.sub("", _SID.sub("", text[:-1])).rstrip().rstrip(";")
    return [f"{body}; sid:{r.sid(o.sid_base, i)}; rev:{max(i.epoch, 1)};)"]


def indicator_rules(o: Options, i: Indicator) -> list[str]:
    t = i.type
    if t in ("ip-dst", "ip-src"):
        return address_rules(o, i, i.value1, None, t == "ip-dst", 0)
    if t in ("ip-dst|port", "ip-src|port"):
        return address_rules(o, i, i.value1, r.port(i.value2), t == "ip-dst|port", 0)
    if t in NAME_TYPES:
        name = r.hostname(i.value1)
        if name is None:
            return []
        out = _name_rules(o, i, name, exact=t.startswith("hostname"))
        if t == "domain|ip":
            out += address_rules(o, i, i.value2, None, True, 3)
        return out
    if t == "url":
        host, path = r.url_parts(i.value)
        parts = []
        if host:
            parts.append(f'http.host; content:"{r.content(host)}"; startswith; endswith;')
        if path and path != "/":
            parts.append(f'http.uri.raw; content:"{r.content(path)}"; startswith;')
        if not parts:
            return []
        return [
            f"alert http $HOME_NET any -> any any ({msg(i, 'HTTP')} {' '.join(parts)} "
            + tail(o, i, 0)
        ]
    if t == "uri":
        return [
            f"alert http $HOME_NET any -> any any ({msg(i, 'HTTP URI')} http.uri.raw; "
            f'content:"{r.content(i.value)}"; ' + tail(o, i, 0)
        ]
    if t == "user-agent":
        return [
            f"alert http $HOME_NET any -> any any ({msg(i, 'HTTP user agent')} http.user_agent; "
            f'content:"{r.content(i.value)}"; startswith; endswith; ' + tail(o, i, 0)
        ]
    if t in ("ja3-fingerprint-md5", "ja3s-fingerprint-md5"):
        buf = "ja3.hash" if t.startswith("ja3-") else "ja3s.hash"
        value = i.value.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{32}", value):
            return []
        return [
            f'alert tls any any -> any any ({msg(i, "TLS")} {buf}; content:"{value}"; '
            + tail(o, i, 0)
        ]
    if t in ("email-src", "email-dst"):
        verb = "MAIL FROM|3A|" if t == "email-src" else "RCPT TO|3A|"
        return [
            f"alert smtp any any -> any any ({msg(i, 'SMTP')} flow:established,to_server; "
            f'content:"{verb}"; nocase; content:"{r.content(i.value.strip())}"; nocase; '
            "distance:0; within:320; " + tail(o, i, 0)
        ]
    if t == "snort":
        return _stored_rule(o, i)
    return []


def rules(
    o: Options,
    batches: Iterable[list[Indicator]],
    header: str,
    rules_of: Callable[[Options, Indicator], list[str]] | None = None,
) -> Iterator[bytes]:
    """The rule file: a header comment, then a rule per line (`rules_of` writes an
    indicator's rules; Suricata's by default)."""
    write = rules_of or indicator_rules
    yield header.encode()
    for batch in batches:
        lines = [line for i in batch for line in write(o, i)]
        if lines:
            yield ("\n".join(lines) + "\n").encode()


def sid_map(o: Options, batches: Iterable[list[Indicator]]) -> Iterator[bytes]:
    """sid-msg.map (version 1): `sid || msg || reference`, one line per rule."""
    for batch in batches:
        lines = []
        for i in batch:
            for rule in indicator_rules(o, i):
                sid = re.search(r"\bsid:(\d+);", rule)
                msg = re.search(r'msg:"([^"]*)";', rule)
                if sid and msg:
                    lines.append(
                        f"{sid.group(1)} || {msg.group(1)} || url,{o.base_url}/events/view/{i.event_id}"
                    )
        if lines:
            yield ("\n".join(lines) + "\n").encode()


# ---------------------------------------------------------------- dataset form


@dataclass(frozen=True)
class Dataset:
    """A value file and the rules that load it."""

    name: str
    kind: str  # Suricata's dataset type, or filemd5/filesha1/filesha256 for file lists
    rules: tuple[tuple[str, str], ...]  # (header and buffer, what) per rule


_FILE_PROTOCOLS = (("http any any -> any any", ""), ("smtp any any -> any any", ""))
DATASETS = (
    Dataset("shieldwall-ip-dst", "ip", (("ip $HOME_NET any -> any any", "ip.dst"),)),
    Dataset("shieldwall-ip-src", "ip", (("ip any any -> $HOME_NET any", "ip.src"),)),
    Dataset(
        "shieldwall-domain",
        "string",
        (
            ("dns $HOME_NET any -> any any", "dns.query"),
            ("tls $HOME_NET any -> any any", "tls.sni"),
            ("http $HOME_NET any -> any any", "http.host"),
        ),
    ),
    Dataset(
        "shieldwall-user-agent", "string", (("http $HOME_NET any -> any any", "http.user_agent"),)
    ),
    Dataset("shieldwall-url", "string", (("http $HOME_NET any -> any any", "http.uri.raw"),)),
    Dataset("shieldwall-md5", "filemd5", _FILE_PROTOCOLS),
    Dataset("shieldwall-sha1", "filesha1", _FILE_PROTOCOLS),
    Dataset("shieldwall-sha256", "filesha256", _FILE_PROTOCOLS),
)
BY_NAME = {d.name: d for d in DATASETS}


def _address_member(dataset: str, value: str) -> list[tuple[str, str]]:
    addr = r.address(value)
    return [(dataset, addr.strip("[]"))] if addr and "/" not in addr else []


def _ip_dst_members(i: Indicator) -> list[tuple[str, str]]:
    return _address_member("shieldwall-ip-dst", i.value1)


def _ip_src_members(i: Indicator) -> list[tuple[str, str]]:
    return _address_member("shieldwall-ip-src", i.value1)


def _name_members(i: Indicator) -> list[tuple[str, str]]:
    name = r.hostname(i.value1)
    out = [("shieldwall-domain", _b64(name))] if name else []
    if i.type == "domain|ip":
        out += _address_member("shieldwall-ip-dst", i.value2)
    return out


def _user_agent_members(i: Indicator) -> list[tuple[str, str]]:
    return [("shieldwall-user-agent", _b64(i.value))]


def _url_members(i: Indicator) -> list[tuple[str, str]]:
    _host, path = r.url_parts(i.value)
    return [("shieldwall-url", _b64(path))] if path and path != "/" else []


_DIGEST_SETS = {32: "shieldwall-md5", 40: "shieldwall-sha1", 64: "shieldwall-sha256"}
_HEX = re.compile(r"[0-9a-f]+")


def _hash_members(i: Indicator) -> list[tuple[str, str]]:
    digest = (i.value2 if "|" in i.type or i.type == "malware-sample" else i.value1).strip().lower()
    kind = _DIGEST_SETS.get(len(digest))
    return [(kind, digest)] if kind and _HEX.fullmatch(digest) else []


# One function a type: a lookup by type costs less than a chain of tests, a million times.
_MEMBERS: dict[str, Callable[[Indicator], list[tuple[str, str]]]] = {
    **dict.fromkeys(("ip-dst", "ip-dst|port"), _ip_dst_members),
    **dict.fromkeys(("ip-src", "ip-src|port"), _ip_src_members),
    **dict.fromkeys(NAME_TYPES, _name_members),
    "user-agent": _user_agent_members,
    "url": _url_members,
    **dict.fromkeys(HASH_TYPES, _hash_members),
}
assert set(_MEMBERS) == DATASET_TYPES


def _no_members(i: Indicator) -> list[tuple[str, str]]:
    return []


def dataset_members(i: Indicator) -> list[tuple[str, str]]:
    """(dataset name, line) pairs an indicator adds; addresses and networks that a dataset
    cannot hold (CIDRs) are left to the rule form."""
    return _MEMBERS.get(i.type, _no_members)(i)


def dataset_lines(batch: Iterable[Indicator]) -> dict[str, list[str]]:
    """The lines a batch of indicators adds to each dataset, in attribute order."""
    lines: dict[str, list[str]] = {d.name: [] for d in DATASETS}
    members_of = _MEMBERS.get
    for i in batch:
        for name, line in members_of(i.type, _no_members)(i):
            lines[name].append(line)
    return {name: found for name, found in lines.items() if found}


def _b64(text: str) -> str:
    return binascii.b2a_base64(text.encode(), newline=False).decode()


def dataset_rules(o: Options, counts: dict[str, int], file_prefix: str = "") -> str:
    """The rules loading each non-empty dataset, sized for its count: hashsize near the
    number of entries, memcap with room for each entry."""
    lines = []
    for n, d in enumerate(DATASETS):
        count = counts.get(d.name, 0)
        if not count:
            continue
        path = f"{file_prefix}{d.name}.lst"
        hashsize = max(1024, 1 << (count - 1).bit_length())
        memcap = max(1, (count * 256) // (1 << 20) + 1)
        for k, (head, buf) in enumerate(d.rules):
            sid = o.sid_base - 1 - n * 8 - k  # just below the per-attribute range
            if d.kind.startswith("file"):
                match = f"{d.kind}:{path};"
            else:
                match = (
                    f"{buf}; dataset:isset,{d.name},type {d.kind},load {path},"
                    f"memcap {memcap}mb,hashsize {hashsize};"
                )
            lines.append(
                f'alert {head} (msg:"Shieldwall {d.name} {buf or d.kind} hit"; {match} '
                f"classtype:{CLASSTYPE}; sid:{sid}; rev:1;)"
            )
    return "\n".join(lines) + ("\n" if lines else "")
