"""Warninglists compiled into one matcher: every enabled list is checked in a handful of
lookups per value instead of one scan per list.

Each list is a bit of an integer mask, and every structure answers with the mask of the
lists it found:

- exact values (string lists; hostname and cidr entries compared as they are) and hostname
  suffixes: one dict, looked up with the value and with each domain suffix of the host;
- cidr lists: the address space cut into ranges that each carry the mask of the lists
  covering all of it, searched by bisection (one table for IPv4, one for IPv6);
- substring lists: one Aho-Corasick automaton;
- regex lists: one alternation that rules most values out, then each expression.

The answers equal pymispwarninglists' own `value in list` with its type-aware search
(`WarningLists(slow_search=True)`): string lists match exact values; hostname lists match the
host of a URL (or the value itself when it has none) and its subdomains; cidr lists match IP
addresses inside their networks and any other value exactly; substring lists match values
that contain an entry. pymispwarninglists never evaluates regex lists; they are evaluated
here as MISP does, as PCRE-style `/pattern/flags` entries, where an expression PCRE refuses
(such as a `g` flag, which PHP's preg_match rejects) never matches.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol
from urllib.parse import urlsplit

import ahocorasick

if TYPE_CHECKING:
    from pymispwarninglists import WarningList

# A URL's network location: an optional scheme, then "//" and all up to the path, query or
# fragment (urllib.parse.urlsplit's rules for printable ASCII).
_URL = re.compile(r" *(?:[A-Za-z][A-Za-z0-9+.\-]*:)?//([^/?#]*)")
# Characters an IPv6 address can hold before an optional %scope.
_V6_SHAPE = re.compile(r"[0-9A-Fa-f:.]+(?:%.*)?", re.DOTALL)
# PCRE modifiers with a Python equivalent; the others PCRE knows change nothing for a yes/no
# search of one value (D, S, U, X, J, A are absent from the shipped lists and refused).
_PCRE_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE, "u": 0}


def ipv4_int(value: str) -> int | None:
    """The address as an integer when ipaddress.IPv4Address would accept the string."""
    # Three dots first: hashes and names that end with a digit stop here. inet_aton also
    # reads shorthand, octal and trailing text ("1.2.3.4 x"); written back by inet_ntoa,
    # only the canonical four decimal octets ipaddress accepts come out unchanged.
    if value.count(".") != 3:
        return None
    try:
        packed = socket.inet_aton(value)
    except (OSError, ValueError):
        return None
    if socket.inet_ntoa(packed) != value:
        return None
    return int.from_bytes(packed, "big")


def ipv6_int(value: str) -> int | None:
    """The address as an integer when ipaddress.IPv6Address would accept the string."""
    if value.count(":") < 2 or not _V6_SHAPE.fullmatch(value):
        return None
    if "%" not in value:
        try:  # the C parser first; ipaddress decides what it refuses
            return int.from_bytes(socket.inet_pton(socket.AF_INET6, value), "big")
        except OSError:
            pass
    try:
        return int(ipaddress.IPv6Address(value))
    except ValueError:
        return None


def url_host(value: str) -> str | None:
    """The host of a URL as urllib.parse gives it (lower case, without port or credentials),
    or None when the value has no network location."""
    # urlsplit finds a network location only after "//" (tabs and newlines removed first),
    # so a value with fewer than two slashes has none: most values skip the parse.
    if value.count("/") < 2:
        return None
    if value.isascii() and value.isprintable():
        # Printable ASCII: urlsplit's clean-up changes nothing but leading spaces, and its
        # scheme, network location and host rules reduce to this expression.
        m = _URL.match(value)
        if m is None:
            return None
        netloc = m.group(1)
        if "[" not in netloc and "]" not in netloc:
            host = netloc.rpartition("@")[2].partition(":")[0]
            if not host:
                return None
            name, percent, zone = host.partition("%")
            return name.lower() + percent + zone
    try:
        return urlsplit(value).hostname
    except ValueError:  # a malformed bracketed host, a bad port: no host to speak of
        return None


def pcre(entry: str) -> re.Pattern[str] | None:
    """A `/pattern/flags` entry as a Python expression, or None when PCRE refuses it."""
    if len(entry) < 2 or entry[0].isalnum() or entry[0] in "\\ ":
        return None
    delimiter = {"(": ")", "[": "]", "{": "}", "<": ">"}.get(entry[0], entry[0])
    end = entry.rfind(delimiter)
    if end <= 0:
        return None
    flags = 0
    for m in entry[end + 1 :]:
        if m not in _PCRE_FLAGS:
            return None
        flags |= _PCRE_FLAGS[m]
    try:
        return re.compile(entry[1:end], flags)
    except re.error:
        return None


@dataclass(frozen=True)
class ListInfo:
    """What a hit names: the warninglist's row id, name, matching rule and category."""

    id: int
    name: str
    type: str
    category: str = "false_positive"


class MaskFunction(Protocol):
    def __call__(self, value: str, wanted: int = -1) -> int: ...


class Hit(NamedTuple):
    """A value on a warninglist: the part of the value that hit and the entry it hit."""

    warninglist: ListInfo
    value: str
    match: str


def _bits(mask: int) -> Iterator[int]:
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


class _Ranges:
    """Address ranges to masks: starts[i] begins a range that runs to starts[i + 1] - 1."""

    def __init__(self, spans: Iterable[tuple[int, int, int]]) -> None:
        # Each list's networks are merged first, so every list enters and leaves each range
        # once and the mask can be flipped bit by bit along the boundaries.
        by_bit: dict[int, list[tuple[int, int]]] = {}
        for start, end, bit in spans:
            by_bit.setdefault(bit, []).append((start, end))
        flips: dict[int, int] = {}
        for bit, pairs in by_bit.items():
            pairs.sort()
            cur_start, cur_end = pairs[0]
            for start, end in pairs[1:]:
                if start <= cur_end + 1:
                    cur_end = max(cur_end, end)
                    continue
                flips[cur_start] = flips.get(cur_start, 0) ^ bit
                flips[cur_end + 1] = flips.get(cur_end + 1, 0) ^ bit
                cur_start, cur_end = start, end
            flips[cur_start] = flips.get(cur_start, 0) ^ bit
            flips[cur_end + 1] = flips.get(cur_end + 1, 0) ^ bit
        self.starts: list[int] = []
        self.masks: list[int] = []
        mask = 0
        for point in sorted(flips):
            mask ^= flips[point]
            if self.masks and self.masks[-1] == mask:
                continue
            self.starts.append(point)
            self.masks.append(mask)


class Matcher:
    """The given warninglists compiled together; `infos[i]` describes `lists[i]`."""

    def __init__(self, infos: Sequence[ListInfo], lists: Sequence[WarningList]) -> None:
        self.infos = list(infos)
        self.lists = list(lists)
        exact: dict[str, int] = {}
        suffixes: dict[str, int] = {}
        v4: list[tuple[int, int, int]] = []
        v6: list[tuple[int, int, int]] = []
        substrings: dict[str, int] = {}
        regexes: list[tuple[re.Pattern[str], int]] = []
        self.kind_bits = {"string": 0, "hostname": 0, "cidr": 0, "substring": 0, "regex": 0}
        self.all_types = 0  # lists without matching_attributes apply to every type
        self.type_bits: dict[str, int] = {}
        for i, data in enumerate(self.lists):
            bit = 1 << i
            self.kind_bits[data.type] = self.kind_bits.get(data.type, 0) | bit
            types = getattr(data, "matching_attributes", None)
            if types:
                for t in types:
                    self.type_bits[t] = self.type_bits.get(t, 0) | bit
            else:
                self.all_types |= bit
            if data.type in ("string", "cidr"):
                for entry in data.set:
                    exact[entry] = exact.get(entry, 0) | bit
            if data.type == "hostname":
                for entry in data.set:
                    exact[entry] = exact.get(entry, 0) | bit  # the host itself
                    key = entry.lstrip(".")  # its subdomains
                    suffixes[key] = suffixes.get(key, 0) | bit
            elif data.type == "cidr":
                for entry in data.list:
                    try:
                        net = ipaddress.ip_network(entry)
                    except ValueError:
                        continue  # pymispwarninglists leaves such entries out of its filters
                    span = (int(net.network_address), int(net.broadcast_address), bit)
                    (v4 if net.version == 4 else v6).append(span)
            elif data.type == "substring":
                for entry in data.set:
                    substrings[entry] = substrings.get(entry, 0) | bit
            elif data.type == "regex":
                for entry in data.list:
                    compiled = pcre(entry)
                    if compiled is not None:
                        regexes.append((compiled, bit))
        # One table for exact values and domain suffixes, so that a name costs one lookup:
        # the low `n` bits of an entry are the lists holding the name as it is, the bits
        # above them the hostname lists whose subdomains it names. Every parent of such a
        # suffix is a key too (0 when nothing else), so the walk from the top-level domain
        # down stops at the first label no entry ends with.
        n = len(self.lists)
        names = exact
        for key, bits in suffixes.items():
            names[key] = names.get(key, 0) | (bits << n)
            dot = key.find(".")
            while dot != -1:
                names.setdefault(key[dot + 1 :], 0)
                dot = key.find(".", dot + 1)
        self._names = names
        self._width = n
        self._low = (1 << n) - 1
        self._hostname_bits = self.kind_bits["hostname"]
        self._substring_bits = self.kind_bits["substring"]
        self._cidr_bits = self.kind_bits["cidr"]
        self._v4 = _Ranges(v4)
        self._v6 = _Ranges(v6)
        # Every value contains the empty string: such an entry hits always.
        self._always = substrings.pop("", 0)
        self._automaton: Any = None
        if substrings:
            automaton = ahocorasick.Automaton()
            for entry, bits in substrings.items():
                automaton.add_word(entry, (bits, entry))
            automaton.make_automaton()
            self._automaton = automaton
        self._regexes = regexes
        self._any_regex = _prefilter([p for p, _ in regexes]) if regexes else None
        self._network_entries: dict[
            int, tuple[dict[tuple[int, int, int], str], dict[int, list[int]]]
        ] = {}
        self._regex_bits = 0
        for _, bit in regexes:
            self._regex_bits |= bit
        self.mask: MaskFunction = self._compile()
        """The lists (as a mask, within `wanted`, default all) that hold the value."""

    # ------------------------------------------------------------------ matching

    def _compile(self) -> MaskFunction:
        """mask() as a closure over the tables: it runs for every attribute at import, and
        reading closure cells costs less than reading attributes."""
        names = self._names
        low = self._low
        width = self._width
        hostname_bits = self._hostname_bits
        cidr_bits = self._cidr_bits
        substring_bits = self._substring_bits
        regex_bits = self._regex_bits
        v4_starts, v4_masks = self._v4.starts, self._v4.masks
        v6_starts, v6_masks = self._v6.starts, self._v6.masks
        automaton = self._automaton
        always = self._always
        prefilter = self._any_regex
        regexes = self._regexes

        def mask(value: str, wanted: int = -1) -> int:
            # The cheap tests that rule a stage out come first: most values never reach
            # the parsers.
            hit = names.get(value, 0) & low
            if hostname_bits & wanted:
                host = value
                if value.count("/") > 1:
                    parsed = url_host(value)
                    if parsed:
                        host = parsed
                        hit = (hit & ~hostname_bits) | (names.get(parsed, 0) & hostname_bits)
                # Proper suffixes of the host, shortest first.
                dot = host.rfind(".")
                while dot != -1:
                    suffix = names.get(host[dot + 1 :])
                    if suffix is None:
                        break
                    hit |= suffix >> width
                    dot = host.rfind(".", 0, dot)
            if cidr_bits & wanted:
                if "0" <= value[-1:] <= "9":  # an IPv4 address ends with a digit
                    address = ipv4_int(value)
                    if address is not None:
                        i = bisect_right(v4_starts, address) - 1
                        hit = (hit & ~cidr_bits) | (v4_masks[i] if i >= 0 else 0)
                if ":" in value:
                    address = ipv6_int(value)
                    if address is not None:
                        i = bisect_right(v6_starts, address) - 1
                        hit = (hit & ~cidr_bits) | (v6_masks[i] if i >= 0 else 0)
            if substring_bits & wanted:
                if automaton is not None:
                    for _, found in automaton.iter(value):
                        hit |= found[0]
                hit |= always
            if regex_bits & wanted and prefilter is not None and prefilter.search(value):
                for pattern, bit in regexes:
                    if pattern.search(value):
                        hit |= bit
            return hit & wanted

        return mask

    def typed_mask(self, attr_type: str, value: str) -> int:
        """The lists that apply to the type and hold the value, or either half of a composite
        value (the halves of `domain|ip`, `filename|md5`, ... and of malware-sample)."""
        wanted = self.type_bits.get(attr_type, 0) | self.all_types
        if not wanted:
            return 0
        if "|" in attr_type or attr_type == "malware-sample":
            first, bar, second = value.partition("|")
            hit = self.mask(first, wanted)
            return hit | self.mask(second, wanted) if bar else hit
        return self.mask(value, wanted)

    # ------------------------------------------------------------------ reporting

    def hits(self, value: str, mask: int) -> list[Hit]:
        """The hits behind a value's mask: per list, the entry the value hit."""
        return [Hit(self.infos[i], value, self._entry(i, value)) for i in _bits(mask)]

    def typed_hits(self, attr_type: str, value: str) -> list[Hit]:
        """The hits of typed_mask: per list, the part of the value that hit (the first half
        of a composite value first, as MISP reports it) and the entry it hit."""
        mask = self.typed_mask(attr_type, value)
        if not mask:
            return []
        if "|" not in attr_type and attr_type != "malware-sample":
            return self.hits(value, mask)
        first, _, second = value.partition("|")
        first_mask = self.mask(first, mask)
        out = []
        for i in _bits(mask):
            part = first if first_mask >> i & 1 else second
            out.append(Hit(self.infos[i], part, self._entry(i, part)))
        return out

    def _networks(self, i: int) -> tuple[dict[tuple[int, int, int], str], dict[int, list[int]]]:
        """List i's networks (version, first address, prefix length) to their entries, and
        per IP version the prefix lengths it has, longest first; read the first time a hit
        on the list is explained."""
        found = self._network_entries.get(i)
        if found is None:
            table: dict[tuple[int, int, int], str] = {}
            for entry in self.lists[i].list:
                try:
                    net = ipaddress.ip_network(entry)
                except ValueError:
                    continue
                table.setdefault((net.version, int(net.network_address), net.prefixlen), entry)
            prefixes = {
                version: sorted({key[2] for key in table if key[0] == version}, reverse=True)
                for version in (4, 6)
            }
            found = (table, prefixes)
            self._network_entries[i] = found
        return found

    def _entry(self, i: int, part: str) -> str:
        """The entry of list i that a value on that list hit."""
        data = self.lists[i]
        if data.type == "hostname":
            host = url_host(part) or part
            if host in data.set:
                return host
            labels = host.split(".")
            for n in range(1, len(labels)):
                suffix = ".".join(labels[n:])
                for candidate in (suffix, "." + suffix):
                    if candidate in data.set:
                        return candidate
            return next((e for e in data.list if host.endswith("." + e.lstrip("."))), part)
        if data.type == "cidr":
            address = ipv4_int(part)
            if address is not None:
                version, width = 4, 32
            else:
                address = ipv6_int(part)
                if address is None:
                    return part  # a value that is no address hits an entry as it is
                version, width = 6, 128
            networks, prefixes = self._networks(i)
            for prefix in prefixes[version]:  # the longest first: the most specific entry
                start = address & (((1 << prefix) - 1) << (width - prefix))
                entry = networks.get((version, start, prefix))
                if entry is not None:
                    return entry
            return part
        if data.type == "substring":
            bit = 1 << i
            if self._automaton is not None:
                for _, (bits, entry) in self._automaton.iter(part):
                    if bits & bit:
                        return str(entry)
            return part  # the empty entry
        if data.type == "regex":
            for entry in data.list:
                compiled = pcre(entry)
                if compiled is not None and compiled.search(part):
                    return entry
        return part


def _prefilter(patterns: list[re.Pattern[str]]) -> re.Pattern[str]:
    """One expression that matches wherever any of the patterns does."""
    try:
        return re.compile("|".join(f"(?:{_scoped(p)})" for p in patterns))
    except re.error:  # patterns that cannot share an alternation: every value goes on
        return re.compile("")


def _scoped(pattern: re.Pattern[str]) -> str:
    """A pattern with its flags written inline, so several can share one alternation."""
    letters = "".join(
        letter
        for letter, flag in (("i", re.IGNORECASE), ("m", re.MULTILINE), ("s", re.DOTALL))
        if pattern.flags & flag
    )
    if pattern.flags & re.VERBOSE:
        letters += "x"
    # Group numbers shift in an alternation: patterns with back references stay out of the
    # prefilter, which then accepts every value.
    if re.search(r"\\[1-9]|\(\?P=", pattern.pattern):
        return ""
    return f"(?{letters}:{pattern.pattern})" if letters else pattern.pattern
