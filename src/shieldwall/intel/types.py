"""MISP attribute types and categories (from pymisp's describeTypes.json) and value normalisers.

Normalising makes equal things compare equal: canonical IP and CIDR forms, lower-case
hostnames, e-mail addresses and hashes, checked hash lengths and ports.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources

from shieldwall.intel.errors import InvalidInput


@dataclass(frozen=True)
class TypeTable:
    types: tuple[str, ...]
    categories: tuple[str, ...]
    default_category: dict[str, str]
    default_to_ids: dict[str, bool]
    category_types: dict[str, frozenset[str]]
    raw: dict[str, object]


@lru_cache(maxsize=1)
def type_table() -> TypeTable:
    text = resources.files("pymisp").joinpath("data/describeTypes.json").read_text("utf-8")
    data = json.loads(text)["result"]
    return TypeTable(
        types=tuple(data["types"]),
        categories=tuple(data["categories"]),
        default_category={t: v["default_category"] for t, v in data["sane_defaults"].items()},
        default_to_ids={t: bool(v["to_ids"]) for t, v in data["sane_defaults"].items()},
        category_types={c: frozenset(ts) for c, ts in data["category_type_mappings"].items()},
        raw=data,
    )


@lru_cache(maxsize=256)
def composite_parts(attr_type: str) -> tuple[str, str] | None:
    """The part types of a composite type ("domain|ip" -> ("domain", "ip-dst"))."""
    if "|" not in attr_type:
        return None
    left, right = attr_type.split("|", 1)
    aliases = {"ip": "ip-dst", "value": "text"}
    return aliases.get(left, left), aliases.get(right, right)


# --- normalisers: each returns the canonical value or raises ValueError with a reason ---

_HEX = re.compile(r"^[0-9a-f]+$")
_DIGITS = re.compile(r"^[0-9]+$")  # ASCII only: str.isdigit() also accepts "²" and other scripts
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_MAC = re.compile(r"^[0-9a-f]{2}([:-]?)[0-9a-f]{2}(\1[0-9a-f]{2}){4}$")
_SSDEEP = re.compile(r"^\d+:[A-Za-z0-9/+]+:[A-Za-z0-9/+]+(,\"?.*\"?)?$")

HASH_LENGTHS: dict[str, tuple[int, ...]] = {
    "md5": (32,),
    "sha1": (40,),
    "sha224": (56,),
    "sha256": (64,),
    "sha384": (96,),
    "sha512": (128,),
    "sha512/224": (56,),
    "sha512/256": (64,),
    "sha3-224": (56,),
    "sha3-256": (64,),
    "sha3-384": (96,),
    "sha3-512": (128,),
    "imphash": (32,),
    "authentihash": (64,),
    "pehash": (40,),
    "cdhash": (40,),
    "ja3-fingerprint-md5": (32,),
    "hassh-md5": (32,),
    "hasshserver-md5": (32,),
    "x509-fingerprint-md5": (32,),
    "x509-fingerprint-sha1": (40,),
    "x509-fingerprint-sha256": (64,),
    "jarm-fingerprint": (62,),
    "git-commit-id": (40, 64),
    "telfhash": (70, 72),
}


def _hash(kind: str) -> Callable[[str], str]:
    lengths = HASH_LENGTHS[kind]

    def normalise(value: str) -> str:
        v = value.strip().lower()
        digits = v
        if kind == "telfhash" and len(v) == 72 and v.startswith("t1"):
            digits = v[2:]  # telfhash's versioned form: "t1" and 70 hexadecimal characters
        if len(v) not in lengths or not _HEX.match(digits):
            want = " or ".join(str(n) for n in lengths)
            raise ValueError(f"a {kind} is {want} hexadecimal characters")
        return v

    return normalise


# A dotted quad already in canonical form (no leading zeros): returned as it is, without
# ipaddress's slower parse. Anything else takes the full path.
_CANONICAL_V4 = re.compile(
    r"^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$"
)


def norm_ip(value: str) -> str:
    v = value.strip()
    if _CANONICAL_V4.match(v):
        return v
    if v.startswith("[") and v.endswith("]"):
        v = v[1:-1]
    try:
        if "/" in v:
            net = ipaddress.ip_network(v, strict=False)
            return str(net)
        return str(ipaddress.ip_address(v))
    except ValueError:
        raise ValueError("not an IP address or CIDR block") from None


def norm_hostname(value: str) -> str:
    v = value.strip().rstrip(".").lower()
    if not v or len(v) > 253:
        raise ValueError("not a valid host name")
    try:
        if not v.isascii():
            v = v.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError("not a valid internationalised host name") from None
    labels = v.split(".")
    if len(labels) < 2 and v != "localhost":
        raise ValueError("a host name has at least two labels")
    for label in labels:
        if not _HOST_LABEL.match(label):
            raise ValueError(f"host name label {label!r} is not valid")
    return v


def norm_port(value: str) -> str:
    v = value.strip()
    if not _DIGITS.match(v) or not 0 <= int(v) <= 65535:
        raise ValueError("a port is a whole number from 0 to 65535")
    return str(int(v))


def norm_email(value: str) -> str:
    v = value.strip()
    if not _EMAIL.match(v):
        raise ValueError("not an e-mail address")
    local, _, domain = v.rpartition("@")
    return f"{local}@{domain.lower()}".lower()


def norm_as(value: str) -> str:
    v = value.strip().upper()
    if v.startswith("AS"):
        v = v[2:]
    if "." in v:  # asdot notation 1.10 -> 65546; each half is 0-65535
        hi, _, lo = v.partition(".")
        if _DIGITS.match(hi) and _DIGITS.match(lo) and int(hi) <= 65535 and int(lo) <= 65535:
            v = str(int(hi) * 65536 + int(lo))
    if not _DIGITS.match(v) or int(v) > 4294967295:
        raise ValueError("an AS number is AS followed by a number up to 4294967295")
    return str(int(v))


def norm_mac(value: str) -> str:
    v = value.strip().lower()
    if not _MAC.match(v):
        raise ValueError("not a MAC address")
    digits = re.sub(r"[^0-9a-f]", "", v)
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def norm_float(value: str) -> str:
    v = value.strip()
    try:
        f = float(v)
    except ValueError:
        raise ValueError("not a number") from None
    return repr(f) if not f.is_integer() else str(int(f)) if abs(f) < 1e15 else repr(f)


def norm_integer(value: str) -> str:
    v = value.strip()
    try:
        return str(int(v))
    except ValueError:
        raise ValueError("not a whole number") from None


def norm_unsigned(value: str) -> str:
    v = norm_integer(value)
    if int(v) < 0:
        raise ValueError("must not be negative")
    return v


def norm_datetime(value: str) -> str:
    v = value.strip()
    try:
        dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("not an ISO 8601 date or date-time") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).isoformat()


def norm_ssdeep(value: str) -> str:
    v = value.strip()
    if not _SSDEEP.match(v):
        raise ValueError("not an ssdeep hash (blocksize:hash:hash)")
    return v


def norm_boolean(value: str) -> str:
    v = value.strip().lower()
    if v in ("1", "true", "yes"):
        return "1"
    if v in ("0", "false", "no"):
        return "0"
    raise ValueError("a boolean is 1/0 or true/false")


def norm_uuid(value: str) -> str:
    import uuid as _uuid

    try:
        return str(_uuid.UUID(value.strip()))
    except ValueError:
        raise ValueError("not a UUID") from None


def norm_url(value: str) -> str:
    v = value.strip()
    if not v:
        raise ValueError("must not be empty")
    # Scheme and host are case-insensitive; the path is not.
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)(.*)$", v, re.S)
    if m:
        scheme, netloc, rest = m.groups()
        userinfo, at, hostport = netloc.rpartition("@")
        return f"{scheme.lower()}://{userinfo}{at}{hostport.lower()}{rest}"
    return v


def norm_cpe(value: str) -> str:
    v = value.strip().lower()
    if not v.startswith("cpe:"):
        raise ValueError("a CPE starts with cpe:")
    return v


def norm_vulnerability(value: str) -> str:
    v = norm_text(value)
    return v.upper() if v.lower().startswith("cve-") else v


def norm_text(value: str) -> str:
    v = value.strip()
    if not v:
        raise ValueError("must not be empty")
    return v


def norm_raw(value: str) -> str:
    # Rules, keys and bodies keep their inner whitespace; only outer blank lines go.
    if not value.strip():
        raise ValueError("must not be empty")
    return value.strip("\r\n")


_NORMALISERS: dict[str, Callable[[str], str]] = {
    "ip-src": norm_ip,
    "ip-dst": norm_ip,
    "hostname": norm_hostname,
    "domain": norm_hostname,
    "port": norm_port,
    "email": norm_email,
    "email-src": norm_email,
    "email-dst": norm_email,
    "email-reply-to": norm_email,
    "target-email": norm_email,
    "whois-registrant-email": norm_email,
    "dns-soa-email": norm_email,
    "eppn": norm_email,
    "AS": norm_as,
    "mac-address": norm_mac,
    "float": norm_float,
    "integer": norm_integer,
    "counter": norm_unsigned,
    "size-in-bytes": norm_unsigned,
    "favicon-mmh3": norm_integer,
    "datetime": norm_datetime,
    "ssdeep": norm_ssdeep,
    "boolean": norm_boolean,
    "uuid": norm_uuid,
    "url": norm_url,
    "link": norm_url,
    "cpe": norm_cpe,
    "vulnerability": norm_vulnerability,
    "yara": norm_raw,
    "sigma": norm_raw,
    "snort": norm_raw,
    "suricata": norm_raw,
    "bro": norm_raw,
    "zeek": norm_raw,
    "stix2-pattern": norm_raw,
    "pgp-public-key": norm_raw,
    "pgp-private-key": norm_raw,
    "email-body": norm_raw,
    "email-header": norm_raw,
    "text": norm_raw,
    "comment": norm_raw,
    "kusto-query": norm_raw,
    "gene": norm_raw,
    "pattern-in-file": norm_raw,
    "pattern-in-traffic": norm_raw,
    "pattern-in-memory": norm_raw,
}
for _kind in HASH_LENGTHS:
    _NORMALISERS[_kind] = _hash(_kind)


def normaliser(attr_type: str) -> Callable[[str], str]:
    return _NORMALISERS.get(attr_type, norm_text)


def split_and_normalise(attr_type: str, value: str) -> tuple[str, str]:
    """Validate and normalise a value for its type; returns (value1, value2).

    Raises InvalidInput naming the field "value" and the reason.
    """
    if not isinstance(value, str):
        value = str(value)
    if len(value) > 1_048_576:
        raise InvalidInput("value is longer than 1 MiB", field="value")
    try:
        if attr_type == "malware-sample":
            left, sep, right = value.partition("|")
            if not sep:
                raise ValueError("malware-sample is filename|md5")
            return norm_text(left), _NORMALISERS["md5"](right)
        parts = composite_parts(attr_type)
        if parts is None:
            return normaliser(attr_type)(value), ""
        pieces = value.split("|")
        if len(pieces) != 2:
            raise ValueError(f"{attr_type} takes two parts separated by one '|'")
        return normaliser(parts[0])(pieces[0]), normaliser(parts[1])(pieces[1])
    except ValueError as exc:
        raise InvalidInput(
            f"value {value[:80]!r} is not a valid {attr_type}: {exc}", field="value"
        ) from None


@lru_cache(maxsize=4096)
def check_type_and_category(attr_type: str, category: str | None) -> str:
    """Return the category to use (the type's default when none is given)."""
    table = type_table()
    if attr_type not in table.default_category:
        raise InvalidInput(f"unknown attribute type {attr_type!r}", field="type")
    if not category:
        return table.default_category[attr_type]
    allowed = table.category_types.get(category)
    if allowed is None:
        raise InvalidInput(f"unknown category {category!r}", field="category")
    if attr_type not in allowed:
        raise InvalidInput(
            f"type {attr_type!r} is not allowed in category {category!r}", field="category"
        )
    return category
