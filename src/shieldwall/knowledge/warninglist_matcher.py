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

A matcher is compiled from the lists' entries once (`Matcher(infos, lists)`, seconds for
every shipped list) into plain tables (`Matcher.tables()`: dicts, lists, strings and
integers only) from which another process rebuilds it without the lists
(`Matcher.from_tables`, a fraction of the time): knowledge/warninglists.py keeps them on
disk.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

import ahocorasick_rs

if TYPE_CHECKING:
    from pymispwarninglists import WarningList

# The shape of Matcher.tables(); a stored copy of another shape is compiled again.
TABLES_FORMAT = 1

# A URL's network location: an optional scheme, then "//" and all up to the path, query or
# fragment (urllib.parse.urlsplit's rules for printable ASCII).
_URL = re.compile(r" *(?:[A-Za-z][A-Za-z0-9+.\-]*:)?//([^/?#]*)")
# Characters an IPv6 address can hold before an optional %scope.
_V6_SHAPE = re.compile(r"[0-9A-Fa-f:.]+(?:%.*)?", re.DOTALL)
# PCRE modifiers with a Python equivalent; the others PCRE knows change nothing for a yes/no
# search of one value (D, S, U, X, J, A are absent from the shipped lists and refused).
_PCRE_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE, "u": 0}
_KINDS = ("string", "hostname", "cidr", "substring", "regex")


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


def network(entry: str) -> tuple[int, int, int, int] | None:
    """(IP version, first address, last address, prefix length) of a network entry, or None
    when ipaddress.ip_network (strict: no host bits) refuses it."""
    address, slash, prefix = entry.partition("/")
    # Canonical IPv4 with a plain prefix length, most of the shipped entries: integers only.
    plain = prefix.isdigit() and prefix.isascii() and (prefix == "0" or prefix[0] != "0")
    if plain or not slash:
        start = ipv4_int(address)
        length = int(prefix) if slash else 32
        if start is not None and length <= 32:
            host = (1 << (32 - length)) - 1
            return None if start & host else (4, start, start | host, length)
    try:
        net = ipaddress.ip_network(entry)
    except ValueError:
        return None  # pymispwarninglists leaves such entries out of its filters
    first = int(net.network_address)
    return net.version, first, int(net.broadcast_address), net.prefixlen


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


def _ranges(spans: Iterable[tuple[int, int, int]]) -> tuple[list[int], list[int]]:
    """Address ranges to masks: starts[i] begins a range (to starts[i + 1] - 1) that the
    lists of masks[i] cover, from (first, last, bit) spans."""
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
    starts: list[int] = []
    masks: list[int] = []
    mask = 0
    interned: dict[int, int] = {}
    for point in sorted(flips):
        mask ^= flips[point]
        if masks and masks[-1] == mask:
            continue
        starts.append(point)
        masks.append(interned.setdefault(mask, mask))
    return starts, masks


def _nesting(networks: list[tuple[int, int, int, str]]) -> list[Any]:
    """One cidr list's networks of one IP version, for finding the most specific entry that
    holds an address: [starts, ends, parents, entries] sorted by first address, then prefix
    length, the first entry of a network kept (as written), and for each network the index
    of the nearest one enclosing it (-1 for none). Networks nest or are apart."""
    networks.sort(key=lambda n: (n[0], n[2]))
    starts: list[int] = []
    ends: list[int] = []
    parents: list[int] = []
    entries: list[str] = []
    open_: list[int] = []
    for start, end, _prefix, entry in networks:
        if starts and starts[-1] == start and ends[-1] == end:
            continue  # the same network again: the first entry names it
        while open_ and ends[open_[-1]] < start:
            open_.pop()
        parents.append(open_[-1] if open_ else -1)
        open_.append(len(starts))
        starts.append(start)
        ends.append(end)
        entries.append(entry)
    return [starts, ends, parents, entries]


def compile_tables(infos: Sequence[ListInfo], lists: Sequence[WarningList]) -> dict[str, Any]:
    """The tables of a matcher of these lists (`infos[i]` describes `lists[i]`)."""
    exact: dict[str, int] = {}
    suffixes: dict[str, int] = {}
    v4: list[tuple[int, int, int]] = []
    v6: list[tuple[int, int, int]] = []
    substrings: dict[str, int] = {}
    regexes: dict[int, list[str]] = {}
    networks: dict[int, list[list[Any]]] = {}
    odd_hosts: dict[int, list[tuple[str, str]]] = {}
    types: list[list[str] | None] = []
    for i, data in enumerate(lists):
        bit = 1 << i
        types.append(list(getattr(data, "matching_attributes", None) or []) or None)
        if data.type in ("string", "cidr", "hostname"):
            for entry in data.set:
                exact[entry] = exact.get(entry, 0) | bit  # the host itself for hostnames
        if data.type == "hostname":
            for entry in data.set:
                key = entry.lstrip(".")  # its subdomains
                suffixes[key] = suffixes.get(key, 0) | bit
            # Entries with more than one leading dot: no suffix of a host spells them.
            odd = [(e.lstrip("."), e) for e in data.list if e.startswith("..")]
            if odd:
                odd_hosts[i] = odd
        elif data.type == "cidr":
            found: dict[int, list[tuple[int, int, int, str]]] = {4: [], 6: []}
            for entry in data.list:
                net = network(entry)
                if net is not None:
                    version, start, end, prefix = net
                    (v4 if version == 4 else v6).append((start, end, bit))
                    found[version].append((start, end, prefix, entry))
            networks[i] = [_nesting(found[4]), _nesting(found[6])]
        elif data.type == "substring":
            for entry in data.set:
                substrings[entry] = substrings.get(entry, 0) | bit
        elif data.type == "regex":
            regexes[i] = list(data.list)
    # One table for exact values and domain suffixes, so that a name costs one lookup: each
    # key holds (the lists holding the name as it is, the hostname lists whose subdomains
    # it names). Every parent of such a suffix is a key too ((0, 0) when nothing else), so
    # the walk from the top-level domain down stops at the first label no entry ends with.
    # A handful of distinct pairs serve millions of keys: each is stored once.
    pairs: dict[tuple[int, int], tuple[int, int]] = {}
    none = pairs.setdefault((0, 0), (0, 0))
    names: dict[str, tuple[int, int]] = {}
    for key, bits in exact.items():
        pair = (bits, suffixes.get(key, 0))
        names[key] = pairs.setdefault(pair, pair)
    for key, bits in suffixes.items():
        if key not in exact:
            pair = (0, bits)
            names[key] = pairs.setdefault(pair, pair)
        dot = key.find(".")
        while dot != -1:
            names.setdefault(key[dot + 1 :], none)
            dot = key.find(".", dot + 1)
    return {
        "format": TABLES_FORMAT,
        "infos": [(info.id, info.name, info.type, info.category) for info in infos],
        "kinds": [data.type for data in lists],
        "types": types,
        "names": names,
        "v4": _ranges(v4),
        "v6": _ranges(v6),
        "substrings": substrings,
        "regexes": regexes,
        "networks": networks,
        "odd_hosts": odd_hosts,
    }


class Matcher:
    """The given warninglists compiled together; `infos[i]` describes `lists[i]`."""

    def __init__(self, infos: Sequence[ListInfo], lists: Sequence[WarningList]) -> None:
        self._init(compile_tables(infos, lists))

    @classmethod
    def from_tables(cls, tables: dict[str, Any]) -> Matcher:
        """A matcher from the tables of another (Matcher.tables())."""
        if tables.get("format") != TABLES_FORMAT:
            raise ValueError("warninglist tables of another format")
        m = cls.__new__(cls)
        m._init(tables)
        return m

    def tables(self) -> dict[str, Any]:
        """Everything the matcher holds, as plain values (for marshal)."""
        return self._tables

    def _init(self, tables: dict[str, Any]) -> None:
        self._tables = tables
        self.infos = [ListInfo(*info) for info in tables["infos"]]
        self._kinds: list[str] = tables["kinds"]
        self.kind_bits = dict.fromkeys(_KINDS, 0)
        self.all_types = 0  # lists without matching_attributes apply to every type
        self.type_bits: dict[str, int] = {}
        for i, (kind, types) in enumerate(zip(self._kinds, tables["types"], strict=True)):
            bit = 1 << i
            self.kind_bits[kind] = self.kind_bits.get(kind, 0) | bit
            if types:
                for t in types:
                    self.type_bits[t] = self.type_bits.get(t, 0) | bit
            else:
                self.all_types |= bit
        self._names: dict[str, tuple[int, int]] = tables["names"]
        substrings: dict[str, int] = dict(tables["substrings"])
        # Every value contains the empty string: such an entry hits always.
        self._always = substrings.pop("", 0)
        self._automaton: Any = None
        self._substring_entries = list(substrings)
        self._substring_bits = [substrings[e] for e in self._substring_entries]
        if substrings:
            self._automaton = ahocorasick_rs.AhoCorasick(
                self._substring_entries, implementation=ahocorasick_rs.Implementation.DFA
            )
        self._regexes: list[tuple[re.Pattern[str], int]] = []
        self._regex_entries: dict[int, list[tuple[str, re.Pattern[str]]]] = {}
        for i, entries in sorted(tables["regexes"].items()):
            for entry in entries:
                compiled = pcre(entry)
                if compiled is not None:
                    self._regexes.append((compiled, 1 << i))
                    self._regex_entries.setdefault(i, []).append((entry, compiled))
        self._any_regex = _prefilter([p for p, _ in self._regexes]) if self._regexes else None
        self._mask_of: dict[int, Callable[[str], int]] = {}
        self._typed: dict[str, tuple[Callable[[str], int] | None, bool]] = {}
        self.untyped = self._compile(-1)
        """The lists (as a mask) that hold the value, whatever their attribute types."""

    # ------------------------------------------------------------------ matching

    def _compile(self, wanted: int) -> Callable[[str], int]:
        """The mask of the lists in `wanted` holding a value, as a closure over the tables
        that runs only the stages those lists need (it runs for every attribute at import,
        and closure cells and plain flags cost less than attributes and mask tests)."""
        names = self._names
        none = (0, 0)
        hostname_bits = self.kind_bits["hostname"]
        hosts = bool(hostname_bits & wanted)
        not_hostname = ~hostname_bits
        cidr_bits = self.kind_bits["cidr"]
        networks = bool(cidr_bits & wanted)
        not_cidr = ~cidr_bits
        v4_starts, v4_masks = self._tables["v4"]
        v6_starts, v6_masks = self._tables["v6"]
        substrings = bool(self.kind_bits["substring"] & wanted)
        find = self._automaton.find_matches_as_indexes if substrings and self._automaton else None
        substring_bits = self._substring_bits
        always = self._always if substrings else 0
        prefilter = self._any_regex if self.kind_bits["regex"] & wanted else None
        regexes = self._regexes
        # The exact table holds every list: other lists' bits are cut off at the end.
        restrict = wanted != -1

        def mask(value: str) -> int:
            # The cheap tests that rule a stage out come first: most values never reach
            # the parsers.
            hit = names.get(value, none)[0]
            if hosts:
                host = value
                if value.count("/") > 1:
                    parsed = url_host(value)
                    if parsed:
                        host = parsed
                        hit = (hit & not_hostname) | (names.get(parsed, none)[0] & hostname_bits)
                # Proper suffixes of the host, shortest first.
                dot = host.rfind(".")
                while dot != -1:
                    suffix = names.get(host[dot + 1 :])
                    if suffix is None:
                        break
                    hit |= suffix[1]
                    dot = host.rfind(".", 0, dot)
            if networks:
                if "0" <= value[-1:] <= "9":  # an IPv4 address ends with a digit
                    address = ipv4_int(value)
                    if address is not None:
                        i = bisect_right(v4_starts, address) - 1
                        hit = (hit & not_cidr) | (v4_masks[i] if i >= 0 else 0)
                if ":" in value:
                    address = ipv6_int(value)
                    if address is not None:
                        i = bisect_right(v6_starts, address) - 1
                        hit = (hit & not_cidr) | (v6_masks[i] if i >= 0 else 0)
            if find is not None:
                for k, _, _ in find(value, overlapping=True):
                    hit |= substring_bits[k]
            hit |= always
            if prefilter is not None and prefilter.search(value):
                for pattern, bit in regexes:
                    if pattern.search(value):
                        hit |= bit
            return hit & wanted if restrict else hit

        return mask

    def _masks(self, wanted: int) -> Callable[[str], int]:
        found = self._mask_of.get(wanted)
        if found is None:
            found = self._compile(wanted)
            if len(self._mask_of) < 256:  # one per attribute type in practice
                self._mask_of[wanted] = found
        return found

    def mask(self, value: str, wanted: int = -1) -> int:
        """The lists (as a mask, within `wanted`, default all) that hold the value."""
        return (self.untyped if wanted == -1 else self._masks(wanted))(value)

    def typed_mask(self, attr_type: str, value: str) -> int:
        """The lists that apply to the type and hold the value, or either half of a composite
        value (the halves of `domain|ip`, `filename|md5`, ... and of malware-sample)."""
        of_type = self._typed.get(attr_type)
        if of_type is None:
            wanted = self.type_bits.get(attr_type, 0) | self.all_types
            composite = "|" in attr_type or attr_type == "malware-sample"
            of_type = self._typed[attr_type] = (self._masks(wanted) if wanted else None, composite)
        check, composite = of_type
        if check is None:
            return 0
        if composite:
            first, bar, second = value.partition("|")
            hit = check(first)
            return hit | check(second) if bar else hit
        return check(value)

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
        first_mask = self.untyped(first) & mask
        out = []
        for i in _bits(mask):
            part = first if first_mask >> i & 1 else second
            out.append(Hit(self.infos[i], part, self._entry(i, part)))
        return out

    def _entry(self, i: int, part: str) -> str:
        """The entry of list i that a value on that list hit."""
        kind = self._kinds[i]
        if kind == "hostname":
            return self._hostname_entry(i, part)
        if kind == "cidr":
            return self._network_entry(i, part)
        if kind == "substring":
            bit = 1 << i
            if self._automaton is not None:
                for k, _, _ in self._automaton.find_matches_as_indexes(part, overlapping=True):
                    if self._substring_bits[k] & bit:
                        return self._substring_entries[k]
            return part  # the empty entry
        if kind == "regex":
            for entry, compiled in self._regex_entries.get(i, ()):
                if compiled.search(part):
                    return entry
        return part

    def _hostname_entry(self, i: int, part: str) -> str:
        # The host itself, else its longest suffix the list names (as written: with or
        # without a leading dot); a list's exact bit on a name says the list holds it.
        bit = 1 << i
        names = self._names
        host = url_host(part) or part
        if names.get(host, (0, 0))[0] & bit:
            return host
        dot = host.find(".")
        while dot != -1:
            suffix = host[dot + 1 :]
            if names.get(suffix, (0, 0))[0] & bit:
                return suffix
            if names.get("." + suffix, (0, 0))[0] & bit:
                return "." + suffix
            dot = host.find(".", dot + 1)
        for key, entry in self._tables["odd_hosts"].get(i, ()):
            if host.endswith("." + key):
                return str(entry)
        return part

    def _network_entry(self, i: int, part: str) -> str:
        address = ipv4_int(part)
        version = 0
        if address is None:
            address = ipv6_int(part)
            if address is None:
                return part  # a value that is no address hits an entry as it is
            version = 1
        starts, ends, parents, entries = self._tables["networks"][i][version]
        # The last network starting at or before the address; the most specific one
        # holding the address is it or one of the networks enclosing it.
        k = bisect_right(starts, address) - 1
        while k >= 0 and ends[k] < address:
            k = parents[k]
        return str(entries[k]) if k >= 0 else part


def _prefilter(patterns: list[re.Pattern[str]]) -> re.Pattern[str]:
    """One expression that matches wherever any of the patterns does."""
    if len(patterns) == 1:
        return patterns[0]
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
