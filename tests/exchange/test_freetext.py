"""Freetext import: indicators found in prose, typed as MISP types, once each."""

from __future__ import annotations

import sqlalchemy as sa

from shieldwall.context import system_ctx
from shieldwall.exchange.freetext import extract, import_freetext, iter_indicators
from shieldwall.intel import events as ev
from shieldwall.intel.models import Attribute
from shieldwall.intel.schemas import EventIn
from shieldwall.intel.types import type_table
from shieldwall.knowledge import warninglists

REPORT = """
Initial access came from hxxps://login-portal[.]example[.]com/auth?session=1 and
http://203.0.113.77/drop.bin; the loader called back to 198.51.100.7:8443 and to
[2001:db8::25]:443, and scanned 192.0.2.0/24 and 2001:db8:40::/48 from 203.0.113.9.
Phishing came from billing[@]example[.]org (also Billing@Example.org), via mail.example.net.
The dropper, 44D88612FEA8A8F36DE82E1278ABB02F, also seen as
3395856ce81f2b7382dee72602f798b642f14140 and
275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f and
cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e
(ssdeep 96:s4Ud1Lj96tHHlZDrwciQmA+4uy1I0G4HYuL8N3TzS8QsO/wqWXLcMSx:sF1LjEtHHlZDrJzrhuyZvHYm8tKp/RWO),
exploits CVE-2021-44228 and cve-2017-0144. Contact: see example.org, not readme.txt.
Again: 203.0.113.9, 198.51.100.7:8443, 2001:DB8:40:0::/48.
"""


def _found(text: str) -> list[tuple[str, str]]:
    return [(i.type, i.value) for i in extract(text)]


def test_extracts_misp_types_from_prose() -> None:
    found = _found(REPORT)
    assert found == [
        ("url", "https://login-portal.example.com/auth?session=1"),
        ("url", "http://203.0.113.77/drop.bin"),
        ("ip-dst|port", "198.51.100.7|8443"),
        ("ip-dst|port", "2001:db8::25|443"),
        ("ip-dst", "192.0.2.0/24"),
        ("ip-dst", "2001:db8:40::/48"),
        ("ip-dst", "203.0.113.9"),
        ("email-src", "billing@example.org"),
        ("hostname", "mail.example.net"),
        ("md5", "44d88612fea8a8f36de82e1278abb02f"),
        ("sha1", "3395856ce81f2b7382dee72602f798b642f14140"),
        ("sha256", "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"),
        (
            "sha512",
            "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
        ),
        (
            "ssdeep",
            "96:s4Ud1Lj96tHHlZDrwciQmA+4uy1I0G4HYuL8N3TzS8QsO/wqWXLcMSx:sF1LjEtHHlZDrJzrhuyZvHYm8tKp/RWO",
        ),
        ("vulnerability", "CVE-2021-44228"),
        ("vulnerability", "CVE-2017-0144"),
        ("domain", "example.org"),
    ]


def test_types_categories_and_ids_flags_are_misp_s() -> None:
    table = type_table()
    for i in extract(REPORT):
        assert i.type in table.types
        assert i.type == i.types[0] and set(i.types) <= set(table.types)
        assert i.category == table.default_category[i.type]
        assert i.to_ids is table.default_to_ids[i.type]
    by_type = {i.type: i for i in extract(REPORT)}
    assert by_type["vulnerability"].to_ids is False
    assert by_type["ip-dst"].to_ids is True
    assert "hostname" in by_type["hostname"].types and "domain" in by_type["hostname"].types


def test_an_indicator_is_one_thing_and_appears_once() -> None:
    # An address with a port is not also a bare address, an e-mail not also its domain, a
    # URL not also its host.
    found = _found("198.51.100.7:80 x@example.com http://a.example.net/p 198.51.100.7:80")
    assert found == [
        ("ip-dst|port", "198.51.100.7|80"),
        ("email-src", "x@example.com"),
        ("url", "http://a.example.net/p"),
    ]
    assert _found("no indicators in this sentence at all.") == []
    assert _found("") == []


def test_pieces_are_read_as_one_text() -> None:
    lines = [f"host{n}.example.com seen at 198.51.{n // 250}.{n % 250}\n" for n in range(3000)]
    lines.append("host1.example.com again\n")
    found = list(iter_indicators(iter(lines)))
    assert len(found) == 6000
    assert len({(i.type, i.value) for i in found}) == 6000
    assert found[0].value == "host0.example.com" and found[-1].value == "198.51.11.249"


def test_import_adds_attributes_once(instance) -> None:  # type: ignore[no-untyped-def]
    ctx = system_ctx(instance.host_org_id)
    with instance.db.writing() as s:
        event = ev.create_event(s, ctx, EventIn(info="freetext target"))
        added = import_freetext(s, ctx, event.id, REPORT)
        assert len(added) == 17
        again = import_freetext(s, ctx, event.id, REPORT + " new.example.net")
        assert [(a.type, a.value) for a in again] == [("hostname", "new.example.net")]
        count = s.execute(
            sa.select(sa.func.count()).select_from(Attribute).where(Attribute.event_id == event.id)
        ).scalar_one()
        assert count == 18


def test_warninglists_drop_or_soften_hits(instance) -> None:  # type: ignore[no-untyped-def]
    ctx = system_ctx(instance.host_org_id)
    text = "resolver 8.8.8.8 and implant 203.0.113.50"
    with instance.db.writing() as s:
        warninglists.sync(s)
        warninglists.set_enabled(s, ctx, ["List of known IPv4 public DNS resolvers"], True)
        event = ev.create_event(s, ctx, EventIn(info="warninglists"))
        kept = import_freetext(s, ctx, event.id, text, adhere=True)
        assert [a.value for a in kept] == ["203.0.113.50"]
        soft = import_freetext(s, ctx, event.id, text, adhere="soft")
        assert [(a.value, a.to_ids) for a in soft] == [("8.8.8.8", False)]
