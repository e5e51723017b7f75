"""What correlates: MISP's type rules, exclusions, and the parsed forms of IP networks and
ssdeep hashes that the correlation indexes hold."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass

# Types whose values never correlate (MISP's list).
NON_CORRELATING_TYPES = frozenset(
    {
        "comment",
        "http-method",
        "aba-rtn",
        "gender",
        "counter",
        "port",
        "nationality",
        "cortex",
        "boolean",
        "anonymised",
    }
)
# Composite types whose second half (a port) does not correlate.
PRIMARY_ONLY_TYPES = frozenset({"ip-src|port", "ip-dst|port", "hostname|port"})
# Types whose value1 is an address or a network (CIDR correlation, as MISP's advanced
# correlation).
NETWORK_TYPES = frozenset({"ip-src", "ip-dst", "ip-src|port", "ip-dst|port"})
SSDEEP_TYPES = frozenset({"ssdeep"})
INDEXED_TYPES = NETWORK_TYPES | SSDEEP_TYPES


def correlating_values(attr_type: str, value1: str, value2: str) -> list[str]:
    """The values of an attribute that correlate: value1, and value2 of composite types that
    correlate on both halves."""
    if attr_type in NON_CORRELATING_TYPES:
        return []
    out = [value1] if value1 else []
    if value2 and attr_type not in PRIMARY_ONLY_TYPES and value2 != value1:
        out.append(value2)
    return out


class Exclusions:
    """Exclusion patterns compiled once: exact values in a set, `%` patterns in one regex."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.exact: set[str] = set()
        wild: list[str] = []
        for p in patterns:
            if "%" in p:
                wild.append(".*".join(re.escape(part) for part in p.split("%")))
            else:
                self.exact.add(p)
        self._regex = re.compile("|".join(f"(?:{w})" for w in wild), re.S) if wild else None

    def __bool__(self) -> bool:
        return bool(self.exact) or self._regex is not None

    def excluded(self, value: str) -> bool:
        if value in self.exact:
            return True
        return self._regex is not None and self._regex.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class Network:
    """An address (hi is None) or a CIDR network: family 4 or 6, prefix length, first and
    last address as big-endian bytes."""

    family: int
    plen: int
    lo: bytes
    hi: bytes | None

    @property
    def last(self) -> bytes:
        return self.hi if self.hi is not None else self.lo

    def contains(self, other: Network) -> bool:
        return (
            self.family == other.family
            and self.hi is not None
            and self.lo <= other.lo
            and other.last <= self.hi
        )

    def overlaps(self, other: Network) -> bool:
        return self.family == other.family and self.lo <= other.last and other.lo <= self.last


def parse_network(value: str) -> Network | None:
    """The address or CIDR network in an IP attribute's value1, or None when it is neither."""
    addr, slash, bits = value.partition("/")
    if ":" in addr:
        family, af, width = 6, socket.AF_INET6, 128
    else:
        family, af, width = 4, socket.AF_INET, 32
    try:
        packed = socket.inet_pton(af, addr)
    except (OSError, ValueError):
        return None
    if not slash:
        return Network(family, width, packed, None)
    if not bits.isdigit() or int(bits) > width:
        return None
    plen = int(bits)
    n = int.from_bytes(packed, "big")
    host = (1 << (width - plen)) - 1
    size = width // 8
    lo = (n & ~host).to_bytes(size, "big")
    hi = (n | host).to_bytes(size, "big")
    return Network(family, plen, lo, hi)


def masked(addr: bytes, plen: int) -> bytes:
    """The network address of `addr` at prefix length `plen`."""
    width = len(addr) * 8
    n = int.from_bytes(addr, "big")
    return (n & ~((1 << (width - plen)) - 1)).to_bytes(len(addr), "big")


_SSDEEP = re.compile(r"^(\d+):([A-Za-z0-9+/]*):([A-Za-z0-9+/]*)(?:,.*)?$")
_RUNS = re.compile(r"(.)\1{3,}")
CHUNK = 7


def _strip_runs(s: str) -> str:
    # Runs of more than three equal characters carry no information for the comparison.
    return _RUNS.sub(lambda m: m.group(1) * 3, s)


def ssdeep_parts(value: str) -> tuple[int, str, str] | None:
    """(block size, first signature, second signature) of an ssdeep hash, runs stripped."""
    m = _SSDEEP.match(value.strip())
    if m is None:
        return None
    return int(m.group(1)), _strip_runs(m.group(2)), _strip_runs(m.group(3))


def ssdeep_chunks(value: str) -> set[tuple[int, str]]:
    """(block size, chunk) keys of an ssdeep hash: every seven-character run of the first
    signature at the block size and of the second at twice it. A signature shorter than a
    chunk is kept whole (marked with '='): equal ones score 100 without a common chunk."""
    parts = ssdeep_parts(value)
    if parts is None:
        return set()
    bs, s1, s2 = parts
    keys: set[tuple[int, str]] = set()
    for size, sig in ((bs, s1), (bs * 2, s2)):
        if len(sig) < CHUNK:
            if sig:
                keys.add((size, "=" + sig))
            continue
        for i in range(len(sig) - CHUNK + 1):
            keys.add((size, sig[i : i + CHUNK]))
    return keys
