"""Telemetry readers: which fields of Zeek logs (TSV and JSON), Suricata eve.json, generic
JSON lines, CSV and pcaps (through tshark) hold observables, and of which kind.

Kinds: ip, host (an address or a host name), domain, url, uri, hash (md5/sha1/sha256),
email, ja3, user_agent. A record also yields its endpoints as "ip|port" (kind ip_port) and
the URL its host and URI make (kind url)."""

from __future__ import annotations

import gzip
import io
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from shieldwall.intel.errors import InvalidInput

KINDS = ("ip", "host", "domain", "url", "uri", "hash", "email", "ja3", "user_agent")
FORMATS = ("auto", "zeek", "zeek-json", "eve", "json", "csv", "pcap")


@dataclass(frozen=True)
class Spec:
    """Where a format keeps its observables: field paths (a tuple of keys; lists are walked)
    by kind, (address, port) endpoint pairs, and (host, uri) pairs that make a URL."""

    name: str
    fields: dict[tuple[str, ...], str]
    endpoints: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()
    urls: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()
    flat: bool = False  # keys hold dots themselves (Zeek: "id.orig_h")


def _flat(names: dict[str, str]) -> dict[tuple[str, ...], str]:
    return {(k,): v for k, v in names.items()}


ZEEK_FIELDS = {
    "id.orig_h": "ip",
    "id.resp_h": "ip",
    "query": "domain",
    "answers": "host",
    "host": "host",
    "uri": "uri",
    "user_agent": "user_agent",
    "referrer": "url",
    "server_name": "domain",
    "ja3": "ja3",
    "ja3s": "ja3",
    "md5": "hash",
    "sha1": "hash",
    "sha256": "hash",
    "tx_hosts": "ip",
    "rx_hosts": "ip",
    "mailfrom": "email",
    "rcptto": "email",
    "from": "email",
    "to": "email",
    "cc": "email",
    "reply_to": "email",
    "helo": "domain",
    "src": "ip",
    "dst": "ip",
    "san.dns": "domain",
    "san.ip": "ip",
    "fingerprint": "hash",
}
# Zeek fields that hold a list of values (sets and vectors; JSON arrays).
ZEEK_ARRAYS = frozenset(
    {"answers", "tx_hosts", "rx_hosts", "rcptto", "to", "cc", "san.dns", "san.ip"}
)
ZEEK = Spec(
    "zeek",
    _flat(ZEEK_FIELDS),
    endpoints=((("id.orig_h",), ("id.orig_p",)), (("id.resp_h",), ("id.resp_p",))),
    urls=((("host",), ("uri",)),),
    flat=True,
)
# The fields each Zeek log holds (Zeek's own schemas); the fast path scans for these only.
ZEEK_LOG_FIELDS: dict[str, tuple[str, ...]] = {
    "conn": ("id.orig_h", "id.resp_h"),
    "dns": ("id.orig_h", "id.resp_h", "query", "answers"),
    "http": ("id.orig_h", "id.resp_h", "host", "uri", "user_agent", "referrer"),
    "ssl": ("id.orig_h", "id.resp_h", "server_name", "ja3", "ja3s"),
    "x509": ("san.dns", "san.ip", "fingerprint"),
    "files": ("tx_hosts", "rx_hosts", "md5", "sha1", "sha256"),
    "smtp": (
        "id.orig_h",
        "id.resp_h",
        "mailfrom",
        "rcptto",
        "from",
        "to",
        "cc",
        "reply_to",
        "helo",
        "user_agent",
    ),
    "notice": ("id.orig_h", "id.resp_h", "src", "dst"),
}

EVE = Spec(
    "eve",
    {
        ("src_ip",): "ip",
        ("dest_ip",): "ip",
        ("dns", "rrname"): "domain",
        ("dns", "rdata"): "host",
        ("dns", "queries", "rrname"): "domain",
        ("dns", "answers", "rrname"): "domain",
        ("dns", "answers", "rdata"): "host",
        ("dns", "grouped", "A"): "ip",
        ("dns", "grouped", "AAAA"): "ip",
        ("dns", "grouped", "CNAME"): "domain",
        ("http", "hostname"): "host",
        ("http", "url"): "uri",
        ("http", "http_user_agent"): "user_agent",
        ("http", "http_refer"): "url",
        ("tls", "sni"): "domain",
        ("tls", "ja3", "hash"): "ja3",
        ("tls", "ja3s", "hash"): "ja3",
        ("fileinfo", "md5"): "hash",
        ("fileinfo", "sha1"): "hash",
        ("fileinfo", "sha256"): "hash",
        ("smtp", "helo"): "domain",
        ("smtp", "mail_from"): "email",
        ("smtp", "rcpt_to"): "email",
        ("email", "from"): "email",
        ("email", "to"): "email",
        ("email", "cc"): "email",
    },
    endpoints=((("src_ip",), ("src_port",)), (("dest_ip",), ("dest_port",))),
    urls=((("http", "hostname"), ("http", "url")),),
)

# tshark's fields for pcaps, and the kinds they hold.
PCAP_FIELDS = {
    "ip.src": "ip",
    "ip.dst": "ip",
    "ipv6.src": "ip",
    "ipv6.dst": "ip",
    "tcp.srcport": "",
    "tcp.dstport": "",
    "udp.srcport": "",
    "udp.dstport": "",
    "dns.qry.name": "domain",
    "dns.a": "ip",
    "dns.aaaa": "ip",
    "http.host": "host",
    "http.request.uri": "uri",
    "http.user_agent": "user_agent",
    "tls.handshake.extensions_server_name": "domain",
    "smtp.req.parameter": "email",
}
PCAP = Spec(
    "pcap",
    {(k,): v for k, v in PCAP_FIELDS.items() if v},
    endpoints=(
        (("ip.src",), ("tcp.srcport",)),
        (("ip.dst",), ("tcp.dstport",)),
        (("ip.src",), ("udp.srcport",)),
        (("ip.dst",), ("udp.dstport",)),
        (("ipv6.src",), ("tcp.srcport",)),
        (("ipv6.dst",), ("tcp.dstport",)),
    ),
    urls=((("http.host",), ("http.request.uri",)),),
    flat=True,
)


def mapping_spec(name: str, mapping: dict[str, str]) -> Spec:
    """A spec from a user's field mapping (`field=kind`; dotted fields walk nested objects,
    and a key that holds the dots itself is found too)."""
    fields: dict[tuple[str, ...], str] = {}
    for key, kind in mapping.items():
        if kind not in (*KINDS, "ip_port"):
            raise InvalidInput(
                f"{kind!r} is not a kind of observable ({', '.join(KINDS)})", field="map"
            )
        if not key.strip():
            raise InvalidInput("a mapped field has a name", field="map")
        fields[tuple(key.strip().split("."))] = kind
    if not fields:
        raise InvalidInput("generic JSON and CSV need a field mapping (field=kind)", field="map")
    return Spec(name, fields)


def parse_mapping(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, eq, kind = item.partition("=")
        if not eq:
            raise InvalidInput(f"{item!r} is not field=kind", field="map")
        out[key.strip()] = kind.strip()
    return out


# ---------------------------------------------------------------- observations


def _walk(record: Any, path: tuple[str, ...], flat: bool) -> Iterator[Any]:
    if flat:
        value = record.get(path[0]) if isinstance(record, dict) else None
        if value is None and len(path) == 1 and "." in path[0] and isinstance(record, dict):
            yield from _walk(record, tuple(path[0].split(".")), False)
            return
        yield from _values(value)
        return
    if not path:
        yield from _values(record)
        return
    if isinstance(record, list):
        for item in record:
            yield from _walk(item, path, flat)
        return
    if not isinstance(record, dict):
        return
    if len(path) > 1 and ".".join(path) in record:
        yield from _values(record[".".join(path)])
        return
    yield from _walk(record.get(path[0]), path[1:], flat)


def _values(value: Any) -> Iterator[Any]:
    if value is None or value == "" or value == "-":
        return
    if isinstance(value, list | tuple | set):
        for v in value:
            yield from _values(v)
    elif isinstance(value, str | int | float) and not isinstance(value, bool):
        yield value


def observe(record: dict[str, Any], spec: Spec) -> list[tuple[str, str, str]]:
    """(field, kind, value) of each observable in a parsed record."""
    if spec.flat:
        return _observe_flat(record, spec)
    out: list[tuple[str, str, str]] = []
    for path, kind in spec.fields.items():
        name = ".".join(path)
        for v in _walk(record, path, spec.flat):
            if isinstance(v, str):
                out.append((name, kind, v))
    for ip_path, port_path in spec.endpoints:
        ips = list(_walk(record, ip_path, spec.flat))
        ports = list(_walk(record, port_path, spec.flat))
        if len(ips) == 1 and len(ports) == 1:
            name = f"{'.'.join(ip_path)}|{'.'.join(port_path)}"
            out.append((name, "ip_port", f"{ips[0]}|{ports[0]}"))
    for host_path, uri_path in spec.urls:
        hosts = [h for h in _walk(record, host_path, spec.flat) if isinstance(h, str)]
        uris = [u for u in _walk(record, uri_path, spec.flat) if isinstance(u, str)]
        if len(hosts) == 1 and len(uris) == 1 and uris[0].startswith("/"):
            name = f"{'.'.join(host_path)}+{'.'.join(uri_path)}"
            out.append((name, "url", hosts[0] + uris[0]))
    return out


def _observe_flat(record: dict[str, Any], spec: Spec) -> list[tuple[str, str, str]]:
    # Flat records (Zeek, tshark): only the keys the record holds are looked at.
    out: list[tuple[str, str, str]] = []
    fields = spec.fields
    for key, value in record.items():
        kind = fields.get((key,))
        if kind is None or value is None:
            continue
        if isinstance(value, str):
            if value and value != "-":
                out.append((key, kind, value))
        elif isinstance(value, list):
            out.extend((key, kind, v) for v in value if isinstance(v, str) and v and v != "-")
    for (ip_key,), (port_key,) in spec.endpoints:
        ip = record.get(ip_key)
        port = record.get(port_key)
        if isinstance(ip, str) and isinstance(port, int | str) and not isinstance(port, bool):
            out.append((f"{ip_key}|{port_key}", "ip_port", f"{ip}|{port}"))
    for (host_key,), (uri_key,) in spec.urls:
        host = record.get(host_key)
        uri = record.get(uri_key)
        if isinstance(host, str) and isinstance(uri, str) and uri.startswith("/"):
            out.append((f"{host_key}+{uri_key}", "url", host + uri))
    return out


# ---------------------------------------------------------------- Zeek TSV


@dataclass
class ZeekHeader:
    separator: bytes = b"\t"
    set_separator: str = ","
    empty: str = "(empty)"
    unset: str = "-"
    fields: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    path: str = ""


def zeek_header_line(header: ZeekHeader, line: bytes) -> None:
    """Apply one '#' line of a Zeek TSV log to its header."""
    text = line.decode("utf-8", "replace").rstrip("\r\n")
    if text.startswith("#separator"):
        raw = text[len("#separator") :].strip()
        header.separator = raw.encode().decode("unicode_escape").encode()
        return
    sep = header.separator.decode()
    name, _, rest = text[1:].partition(sep)
    if name == "set_separator":
        header.set_separator = rest
    elif name == "empty_field":
        header.empty = rest
    elif name == "unset_field":
        header.unset = rest
    elif name == "fields":
        header.fields = rest.split(sep)
    elif name == "types":
        header.types = rest.split(sep)
    elif name == "path":
        header.path = rest


def zeek_tsv_record(header: ZeekHeader, line: bytes) -> dict[str, Any] | None:
    """A data line of a Zeek TSV log as a record; None when its column count is wrong."""
    cols = line.rstrip(b"\r\n").split(header.separator)
    if not header.fields or len(cols) != len(header.fields):
        return None
    return zeek_tsv_columns(header, [c.decode("utf-8", "replace") for c in cols])


def zeek_tsv_columns(header: ZeekHeader, cols: list[str]) -> dict[str, Any]:
    """A record from the decoded columns of a data line (as many as the header's fields)."""
    record: dict[str, Any] = {}
    for i, (name, value) in enumerate(zip(header.fields, cols, strict=True)):
        if value in (header.unset, header.empty):
            continue
        kind = header.types[i] if i < len(header.types) else ""
        if kind.startswith(("set[", "vector[")):
            record[name] = value.split(header.set_separator)
        else:
            record[name] = value
    return record


def zeek_log_type(name: str, first: dict[str, Any] | None) -> str | None:
    """Which Zeek log a file holds, from its first record's fields, else its name; None
    when records carry `_path` (a stream that mixes logs) or nothing tells."""
    if first and "_path" in first:
        return None
    if first:
        for log, marker in (
            ("conn", "conn_state"),
            ("dns", "qtype_name"),
            ("dns", "query"),
            ("http", "method"),
            ("ssl", "server_name"),
            ("ssl", "ja3"),
            ("x509", "certificate.subject"),
            ("files", "fuid"),
            ("smtp", "mailfrom"),
            ("notice", "note"),
        ):
            if marker in first:
                return log
    base = Path(name).name.split(".", 1)[0]
    return base if base in ZEEK_LOG_FIELDS else None


# ---------------------------------------------------------------- opening sources


GZIP_MAGIC = b"\x1f\x8b"
PCAP_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"


def expand(paths: list[str]) -> list[str]:
    """Files named, and the files under directories named (sorted); '-' is stdin."""
    out: list[str] = []
    for p in paths:
        if p == "-":
            out.append(p)
            continue
        path = Path(p)
        if path.is_dir():
            out.extend(str(f) for f in sorted(path.rglob("*")) if f.is_file())
        elif path.exists():
            out.append(str(path))
        else:
            raise InvalidInput(f"{p} does not exist", field="path")
    return out


def open_binary(name: str) -> IO[bytes]:
    """A source as bytes, gzip-compressed or not."""
    raw: IO[bytes] = sys.stdin.buffer if name == "-" else open(name, "rb")  # noqa: SIM115
    return binary_stream(raw)


def binary_stream(raw: IO[bytes]) -> IO[bytes]:
    """The bytes of a stream, gunzipped when they start as gzip does."""
    buffered: Any = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)
    if buffered.peek(2)[:2] == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=buffered)  # type: ignore[return-value]
    return buffered


def sniff(head: bytes, name: str) -> str:
    """The format of a source from its first bytes (and its name for CSV)."""
    if head[:4] in PCAP_MAGICS or head[:4] == PCAPNG_MAGIC:
        return "pcap"
    text = head.lstrip()
    if text.startswith(b"#separator") or text.startswith(b"#fields"):
        return "zeek"
    if text.startswith(b"{"):
        first = text.split(b"\n", 1)[0]
        if b'"event_type"' in first:
            return "eve"
        if (
            b'"uid"' in first
            or b'"_path"' in first
            or b'"id.orig_h"' in first
            or b'"fuid"' in first
        ):
            return "zeek-json"
        return "json"
    if name.lower().endswith((".csv", ".csv.gz")):
        return "csv"
    return "unknown"


# ---------------------------------------------------------------- pcaps through tshark


def tshark_path() -> str | None:
    return shutil.which("tshark")


class TsharkMissing(InvalidInput):
    pass


def pcap_records(name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(frame number, record) of each packet with an observable, through tshark's field
    export. Raises TsharkMissing when tshark is not installed."""
    exe = tshark_path()
    if exe is None:
        raise TsharkMissing(
            "reading pcaps needs tshark (Debian: apt-get install tshark); it is not installed",
            field="path",
        )
    names = ["frame.number", *PCAP_FIELDS]
    cmd = [exe, "-r", name, "-n", "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a"]
    cmd += ["-E", "aggregator=,"]
    for n in names:
        cmd += ["-e", n]
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            cols = line.rstrip(b"\r\n").decode("utf-8", "replace").split("\t")
            if len(cols) != len(names):
                continue
            record: dict[str, Any] = {}
            for n, v in zip(names[1:], cols[1:], strict=True):
                if v:
                    record[n] = v.split(",") if "," in v else v
            if record:
                yield int(cols[0] or 0), record
        err = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
        if proc.wait() != 0:
            raise InvalidInput(f"tshark could not read {name}: {err.strip()[:300]}", field="path")
