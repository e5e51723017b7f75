"""The compiled warninglist matcher against pymispwarninglists' own answers: every shipped
list, its entries, values derived from them (subdomains, URLs, e-mail addresses, addresses
inside and next to networks, near misses) and generated values."""

from __future__ import annotations

import ipaddress
import logging
import marshal
import random
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymispwarninglists import WarningList, WarningLists

from shieldwall.knowledge.warninglist_matcher import (
    ListInfo,
    Matcher,
    ipv4_int,
    ipv6_int,
    network,
    pcre,
    url_host,
)

logging.getLogger("pymispwarninglists").setLevel(logging.ERROR)  # its invalid-CIDR notes


@pytest.fixture(scope="module")
def shipped() -> dict[str, WarningList]:
    return dict(WarningLists(slow_search=False).items())


@pytest.fixture(scope="module")
def every_list(shipped: dict[str, WarningList]) -> Matcher:
    return _matcher(shipped)


def _matcher(lists: dict[str, WarningList]) -> Matcher:
    names = sorted(lists)
    return Matcher(
        [ListInfo(i, n, lists[n].type) for i, n in enumerate(names)], [lists[n] for n in names]
    )


def _hit_names(m: Matcher, value: str) -> set[str]:
    return {h.warninglist.name for h in m.hits(value, m.mask(value))}


def _derived(entry: str) -> Iterator[str]:
    """Values a list entry should or should not match, by each list type's rules."""
    bare = entry.lstrip(".")
    yield from (entry, entry.upper(), entry[1:], entry[:-1], entry + "x", "x" + entry)
    yield from ("a." + entry, "a.b." + bare, "a" + bare, entry + ".", "." + bare)
    yield from (f"http://a.{bare}/p?q=1", f"https://u:p@{entry.upper()}:8443/", f"//{entry}")
    yield from (f"user@{entry}", f"hxxp://{bare}", f"{bare}/path", f"ftp://{bare}.")
    try:
        net = ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return
    for address in (
        net.network_address,
        net.broadcast_address,
        net.network_address + net.num_addresses // 2,
    ):
        yield str(address)
        if int(address) > 0:
            yield str(address - 1)
        if int(address) < (1 << net.max_prefixlen) - 1:
            yield str(address + 1)
    if net.version == 4:
        yield f"::ffff:{net.network_address}"
        yield str(net.network_address).replace(".", ".0", 1)  # leading zero: not an address
    else:
        yield net.network_address.exploded
        yield f"{net.network_address}%eth0"


def _reference(lists: dict[str, WarningList], value: str) -> set[str] | None:
    """pymispwarninglists' answer (None when it cannot parse the value as a URL)."""
    try:
        return {n for n, wl in lists.items() if value in wl}
    except ValueError:
        return None


def test_every_list_type_answers_as_pymispwarninglists(shipped: dict[str, WarningList]) -> None:
    """Each shipped list cut to a sample of its entries (the rules do not depend on the
    size), checked with pymispwarninglists' type-aware search and with the matcher."""
    rnd = random.Random(20261127)
    reference: dict[str, WarningList] = {}
    for name, wl in shipped.items():
        if wl.type == "regex":
            continue  # pymispwarninglists never evaluates them: see the regex tests below
        doc = dict(wl.warninglist)
        doc["list"] = rnd.sample(wl.list, min(40, len(wl.list)))
        reference[name] = WarningList(doc, slow_search=True)
    assert {w.type for w in reference.values()} == {"string", "substring", "hostname", "cidr"}
    m = _matcher(reference)
    values: set[str] = set()
    for wl in reference.values():
        for entry in rnd.sample(wl.list, min(12, len(wl.list))):
            values.update(_derived(entry))
    for _ in range(2000):  # generated addresses, hashes, names and URLs
        values.add(str(ipaddress.IPv4Address(rnd.getrandbits(32))))
        values.add(str(ipaddress.IPv6Address(rnd.getrandbits(128))))
        values.add(f"{rnd.getrandbits(128):032x}")
        label = "".join(rnd.choice("abcdeo-.") for _ in range(rnd.randrange(1, 12)))
        values.update((f"{label}.com", f"https://{label}.net/x", f"{label}@mail.{label}.org"))
    values.update(("", ".", "..", "/", "//", "::", "0.0.0.0", "255.255.255.255", "http://[::1]/"))
    checked = 0
    for value in sorted(values):
        expected = _reference(reference, value)
        got = _hit_names(m, value)  # never raises, whatever the value
        if expected is None:
            continue
        assert got == expected, value
        checked += 1
    hits = sum(1 for v in values if m.mask(v))
    assert checked > 20_000 and hits > 3_000  # enough values, and enough of them hit


def test_every_shipped_list_holds_its_own_entries(
    shipped: dict[str, WarningList], every_list: Matcher
) -> None:
    """All lists enabled at their full size: values built from a list's entries hit that
    list whenever pymispwarninglists says that entry alone holds them, and the entry
    reported is one of the list's."""
    m = every_list
    rnd = random.Random(11)
    checked = 0
    for name, wl in sorted(shipped.items()):
        if wl.type == "regex":
            continue
        for entry in rnd.sample(wl.list, min(15, len(wl.list))):
            alone = WarningList({**wl.warninglist, "list": [entry]}, slow_search=True)
            for value in _derived(entry):
                try:
                    expected = value in alone
                except ValueError:
                    continue
                if not expected:
                    continue
                found = {h.warninglist.name: h for h in m.hits(value, m.mask(value))}
                assert name in found, (name, entry, value)
                assert found[name].match in wl.set or found[name].match == value
                checked += 1
    assert checked > 3_000


def _synthetic(name: str, kind: str, entries: list[str], types: list[str] | None) -> WarningList:
    doc: dict[str, Any] = {"name": name, "type": kind, "list": entries}
    doc.update(description=name, version=1)
    if types:
        doc["matching_attributes"] = types
    return WarningList(doc)


def test_attribute_types_and_composite_values() -> None:
    lists = {
        "resolvers": _synthetic("resolvers", "cidr", ["192.0.2.0/24"], ["ip-dst", "domain|ip"]),
        "hashes": _synthetic("hashes", "string", ["d41d8cd98f00b204e9800998ecf8427e"], ["md5"]),
        "anything": _synthetic("anything", "string", ["always.example"], None),
        "names": _synthetic("names", "hostname", ["example.org"], ["domain", "url"]),
    }
    m = _matcher(lists)

    def typed(attr_type: str, value: str) -> list[tuple[str, str, str]]:
        return [(h.warninglist.name, h.value, h.match) for h in m.typed_hits(attr_type, value)]

    assert typed("ip-dst", "192.0.2.7") == [("resolvers", "192.0.2.7", "192.0.2.0/24")]
    assert typed("ip-src", "192.0.2.7") == []  # the list does not name ip-src
    assert typed("domain|ip", "a.example|192.0.2.7") == [("resolvers", "192.0.2.7", "192.0.2.0/24")]
    assert typed("md5", "d41d8cd98f00b204e9800998ecf8427e") != []
    # malware-sample and other composites: either half (MISP splits at the first bar).
    assert typed("filename|md5", "a.exe|d41d8cd98f00b204e9800998ecf8427e") == []
    assert typed("text", "always.example") == [("anything", "always.example", "always.example")]
    assert typed("url", "https://www.EXAMPLE.org/x") == [
        ("names", "https://www.EXAMPLE.org/x", "example.org")
    ]
    assert typed("hostname", "www.example.org") == []
    # Untyped checks (MISP's checkValue) ignore the types and never split.
    assert _hit_names(m, "192.0.2.255") == {"resolvers"}
    assert _hit_names(m, "a.example|192.0.2.7") == set()


def test_regex_lists_follow_misp() -> None:
    """pymispwarninglists never evaluates regex lists. MISP runs each entry as a PCRE
    expression; an entry PHP refuses (the phone list's `/g`) matches nothing."""
    shipped = WarningLists(slow_search=False)
    contacts = shipped["Common contact e-mail addresses"]
    phones = shipped["Unattributed phone number."]
    m = _matcher({contacts.name: contacts, phones.name: phones})
    assert _hit_names(m, "abuse@example.com") == {"Common contact e-mail addresses"}
    assert _hit_names(m, "NOC@corp.example.org") == {"Common contact e-mail addresses"}  # /i
    assert _hit_names(m, "john@example.com") == set()
    assert _hit_names(m, "abuse@localhost") == set()
    for number in ("+15555501234", "0207946012", "07700900123", "1010101010"):
        assert _hit_names(m, number) == set()
    assert all(pcre(e) is None for e in phones.list)
    assert pcre("#^a+$#i") is not None and pcre("{a}x") is not None
    assert pcre("abc") is None and pcre("/a/Q") is None and pcre("/(/") is None


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="0123456789abcdefABCDEF:.%x ", max_size=45))
def test_address_parsing_equals_ipaddress(value: str) -> None:
    def reference(kind: Any) -> int | None:
        try:
            return int(kind(value))
        except ValueError:
            return None

    assert ipv4_int(value) == reference(ipaddress.IPv4Address)
    assert ipv6_int(value) == reference(ipaddress.IPv6Address)


@settings(max_examples=3000, deadline=None)
@given(
    st.sampled_from(["", "http://", "//", " //", "Ab+c://", "h:", "a_b://", "\thttp://"]),
    st.text(alphabet="ab1:/@?#%[] .-+_\tHé", max_size=24),
)
def test_url_hosts_equal_urlsplit(prefix: str, rest: str) -> None:
    value = prefix + rest
    try:
        expected = urlsplit(value).hostname or None
    except ValueError:
        return  # pymispwarninglists fails on such values; the matcher reads them as no URL
    assert url_host(value) == expected


def test_tables_read_back_answer_alike(
    shipped: dict[str, WarningList], every_list: Matcher
) -> None:
    """A matcher rebuilt from its tables after a trip through marshal (as the disk copy
    is) gives the same masks, typed masks and hits, entries included, as the compiled one."""
    again = Matcher.from_tables(marshal.loads(marshal.dumps(every_list.tables())))
    rnd = random.Random(3)
    values: set[str] = set()
    for wl in shipped.values():
        for entry in rnd.sample(wl.list, min(8, len(wl.list))):
            values.update(_derived(entry))
    assert len(values) > 10_000
    hits = 0
    for value in sorted(values):
        mask = every_list.mask(value)
        assert again.mask(value) == mask, value
        assert again.hits(value, mask) == every_list.hits(value, mask), value
        for attr_type in ("domain", "ip-dst", "url", "md5", "email-src", "domain|ip"):
            assert again.typed_hits(attr_type, value) == every_list.typed_hits(attr_type, value)
        hits += bool(mask)
    assert hits > 2_000
    with pytest.raises(ValueError):
        Matcher.from_tables({**every_list.tables(), "format": -1})


def test_the_most_specific_network_is_reported() -> None:
    """A cidr hit names the longest prefix of the list that holds the address (the first
    entry written for a network written twice), whatever the nesting."""
    rnd = random.Random(8)
    for _ in range(40):
        entries = []
        for _ in range(rnd.randrange(1, 30)):
            prefix = rnd.randrange(8, 33)
            base = rnd.getrandbits(8) << 24 | rnd.getrandbits(6) << 18
            net = ipaddress.ip_network((base, prefix), strict=False)
            entries.append(str(net) if rnd.random() < 0.8 else str(net).upper() + " ")
        # The same networks again, written otherwise: the first entry names them.
        entries += [e.replace("/", "/0") for e in rnd.sample(entries, min(3, len(entries)))]
        m = _matcher({"nets": _synthetic("nets", "cidr", entries, None)})
        networks = [(e, ipaddress.ip_network(e)) for e in entries if network(e) is not None]
        for _ in range(200):
            address = ipaddress.IPv4Address(rnd.getrandbits(8) << 24 | rnd.getrandbits(24))
            holders = [(n.prefixlen, -i, e) for i, (e, n) in enumerate(networks) if address in n]
            hit = m.hits(str(address), m.mask(str(address)))
            if not holders:
                assert hit == []
                continue
            assert [h.match for h in hit] == [max(holders)[2]], (address, entries)


def test_subdomain_hits_name_the_entry_as_written() -> None:
    """A hostname hit names the host when the list holds it, else its longest suffix the
    list holds, with or without its leading dot(s) as the list writes it."""
    lists = {
        "names": _synthetic(
            "names", "hostname", ["example.org", ".b.example.org", "..deep.example", "x.y"], None
        )
    }
    m = _matcher(lists)

    def entry(value: str) -> list[str]:
        return [h.match for h in m.hits(value, m.mask(value))]

    assert entry("example.org") == ["example.org"]
    assert entry("a.example.org") == ["example.org"]
    assert entry("a.b.example.org") == [".b.example.org"]
    assert entry("b.example.org") == ["example.org"]  # ".b.example.org" names subdomains
    assert entry("https://c.a.b.example.org:8443/x") == [".b.example.org"]
    assert entry("z.deep.example") == ["..deep.example"]
    assert entry("deep.example") == []
    assert entry("w.x.y") == ["x.y"] and entry("x.y") == ["x.y"] and entry("xx.y") == []


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="0123456789./:abcdef ", max_size=24))
def test_network_parsing_equals_ipaddress(value: str) -> None:
    try:
        net = ipaddress.ip_network(value)
    except ValueError:
        assert network(value) is None
        return
    first = int(net.network_address)
    assert network(value) == (net.version, first, int(net.broadcast_address), net.prefixlen)
