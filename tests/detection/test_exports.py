"""Sensor exports: every format parses with the sensors' own parsers (suricataparser and
idstools for rules, dnspython for the zone, yara-python for the bundle), carries exactly the
indicators the reader may see, and leaves out what sensors should not load."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import dns.rdatatype
import dns.zone
import idstools.rule
import pytest
import suricataparser
import yara

from tests.conftest import Api

YARA_A = 'rule dropper { strings: $a = "dropper-marker" condition: $a }'
YARA_B = (
    'import "math"\n'
    'rule dropper { strings: $b = "second-marker" condition: $b and math.entropy(0, 1) >= 0 }\n'
    "rule uses_dropper { condition: dropper }"
)
YARA_BAD = "rule broken { condition: nonexistent_identifier }"

INDICATORS: list[dict[str, Any]] = [
    {"type": "ip-dst", "value": "203.0.113.7"},
    {"type": "ip-dst", "value": "198.51.100.0/24"},
    {"type": "ip-src", "value": "2001:db8::66"},
    {"type": "ip-dst|port", "value": "203.0.113.8|8443"},
    {"type": "domain", "value": "evil.example"},
    {"type": "hostname", "value": "c2.bad.example"},
    {"type": "domain|ip", "value": "dual.example|192.0.2.99"},
    {"type": "url", "value": 'http://drop.example/get.php?id=1&x="q;"'},
    {"type": "uri", "value": "/wp-admin/shell.php"},
    {"type": "user-agent", "value": 'Evil "Agent"; v1|x ✓'},
    {"type": "ja3-fingerprint-md5", "value": "e7d705a3286e19ea42f587b344ee6865"},
    {"type": "email-src", "value": "phish@evil.example"},
    {"type": "md5", "value": "0123456789abcdef0123456789abcdef"},
    {"type": "sha256", "value": "ab" * 32},
    {"type": "filename|sha1", "value": "drop.exe|" + "cd" * 20},
    {"type": "yara", "value": YARA_A},
    {"type": "yara", "value": YARA_B},
    {"type": "yara", "value": YARA_BAD},
]


def _event(api: Api, info: str, attributes: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    body = {"info": info, "distribution": 1, "attributes": attributes, **kw}
    r = api.post("/api/v1/events", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def _publish(api: Api, event: dict[str, Any]) -> None:
    r = api.post(f"/api/v1/events/{event['id']}/publish")
    assert r.status_code == 200, r.text


@pytest.fixture
def intel(admin: Api, make_user: Any) -> dict[str, Any]:
    main = _event(admin, "sensor intel", [{**a, "to_ids": True} for a in INDICATORS])
    _publish(admin, main)
    not_ids = _event(
        admin, "context only", [{"type": "domain", "value": "context.example", "to_ids": False}]
    )
    _publish(admin, not_ids)
    draft = _event(
        admin, "draft", [{"type": "domain", "value": "unpublished.example", "to_ids": True}]
    )
    alpha = make_user("ALPHA-CERT", role="publisher")
    private = _event(
        alpha.api,
        "alpha only",
        [{"type": "domain", "value": "alpha-secret.example", "to_ids": True}],
        distribution=0,
    )
    _publish(alpha.api, private)
    beta = make_user("BETA-CERT")
    host = make_user("HOST-CERT")
    return {"main": main, "draft": draft, "alpha": alpha, "beta": beta, "host": host}


def _text(api: Api, fmt: str, **params: Any) -> str:
    r = api.get(f"/api/v1/exports/{fmt}", params=params)
    assert r.status_code == 200, r.text
    return str(r.text)


def _rules(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_suricata_rules_parse_and_cover_every_type(admin: Api, intel: dict[str, Any]) -> None:
    reader: Api = intel["host"].api
    text = _text(reader, "suricata")
    rules = _rules(text)
    parsed = [suricataparser.parse_rule(r) for r in rules]
    assert all(p is not None for p in parsed), [
        r for r, p in zip(rules, parsed, strict=True) if p is None
    ]
    checked = [idstools.rule.parse(r) for r in rules]
    assert all(c is not None for c in checked)
    sids = [int(c["sid"]) for c in checked]
    assert len(sids) == len(set(sids)), "every rule has its own sid"
    body = "\n".join(rules)
    # Addresses in headers, IPv6 in brackets, networks as they are.
    assert "-> 203.0.113.7 any" in body and "-> 198.51.100.0/24 any" in body
    assert "[2001:db8::66] any -> $HOME_NET any" in body
    assert re.search(r"alert tcp \$HOME_NET any -> 203\.0\.113\.8 8443", body)
    assert re.search(r"alert udp \$HOME_NET any -> 203\.0\.113\.8 8443", body)
    # A domain matches its subdomains, a hostname only itself, in DNS, TLS and HTTP.
    assert 'dns.query; dotprefix; content:".evil.example"; nocase; endswith;' in body
    assert 'tls.sni; dotprefix; content:".evil.example"; nocase; endswith;' in body
    assert 'http.host; dotprefix; content:".evil.example"; endswith;' in body
    assert 'dns.query; content:"c2.bad.example"; nocase; startswith; endswith;' in body
    assert "-> 192.0.2.99 any" in body  # the address half of domain|ip
    # Rule syntax characters and non-ASCII go as hex in contents.
    assert 'content:"Evil |22|Agent|22 3B| v1|7C|x |E2 9C 93|"' in body
    assert 'http.uri.raw; content:"/get.php?id=1&x=|22|q|3B 22|"; startswith;' in body
    assert 'ja3.hash; content:"e7d705a3286e19ea42f587b344ee6865";' in body
    assert 'content:"MAIL FROM|3A|"; nocase; content:"phish@evil.example"' in body
    # Hashes need the dataset form; what the reader may not see or should not load is out.
    for absent in ("0123456789abcdef", "context.example", "unpublished.example", "alpha-secret"):
        assert absent not in body
    # Each rule links back to its event and names the attribute.
    main = intel["main"]
    assert all(f"/events/view/{main['id']}" in r for r in rules)
    assert all(f"shieldwall_event {main['uuid']}" in r for r in rules)


def test_sids_are_stable_and_the_sid_map_matches(admin: Api, intel: dict[str, Any]) -> None:
    def by_rule(rules: list[str]) -> dict[str, str]:
        """Each rule's text without its sid, to its sid."""
        out = {}
        for rule in rules:
            sid = re.search(r"sid:(\d+);", rule)
            assert sid is not None
            out[rule.replace(sid.group(0), "")] = sid.group(1)
        return out

    first = by_rule(_rules(_text(admin, "suricata")))
    extra = _event(admin, "later", [{"type": "domain", "value": "later.example", "to_ids": True}])
    _publish(admin, extra)
    second_rules = _rules(_text(admin, "suricata"))
    second = by_rule(second_rules)
    assert {k: second[k] for k in first} == first
    assert len(second) == len(first) + 3  # DNS, TLS and HTTP for the new domain
    sidmap = [line for line in _text(admin, "suricata-sidmap").splitlines() if line]
    assert len(sidmap) == len(second_rules)
    msg_of = {}
    for rule in second_rules:
        sid, msg = re.search(r"sid:(\d+);", rule), re.search(r'msg:"([^"]+)";', rule)
        assert sid is not None and msg is not None
        msg_of[sid.group(1)] = msg.group(1)
    assert {line.split(" || ")[0]: line.split(" || ")[1] for line in sidmap} == msg_of


def test_snort3_rules(admin: Api, intel: dict[str, Any]) -> None:
    reader: Api = intel["host"].api
    rules = _rules(_text(reader, "snort"))
    checked = [idstools.rule.parse(r) for r in rules]
    assert all(c is not None for c in checked), rules
    body = "\n".join(rules)
    # A DNS name as the query's wire-format labels: its subdomains end the same way.
    assert 'content:"|04|evil|07|example|00|", nocase;' in body
    assert 'http_header:field host; content:"evil.example", nocase;' in body
    assert 'http_raw_uri; content:"/wp-admin/shell.php";' in body
    assert "ja3" not in body and "alpha-secret" not in body
    assert len({int(c["sid"]) for c in checked}) == len(rules)


def test_suricata_datasets(admin: Api, intel: dict[str, Any], tmp_path: Path) -> None:
    reader: Api = intel["host"].api
    rules = _rules(reader.get("/api/v1/exports/suricata-datasets/rules").text)
    for rule in rules:
        assert suricataparser.parse_rule(rule) is not None and idstools.rule.parse(rule)
    loads = {
        m.group(1) for r in rules for m in [re.search(r"load (shieldwall-[a-z0-9-]+)\.lst", r)] if m
    }
    files = {
        m.group(1)
        for r in rules
        for m in [re.search(r"file(?:md5|sha1|sha256):(shieldwall-[a-z0-9-]+)\.lst", r)]
        if m
    }
    assert loads == {
        "shieldwall-ip-dst",
        "shieldwall-ip-src",
        "shieldwall-domain",
        "shieldwall-user-agent",
        "shieldwall-url",
    }
    assert files == {"shieldwall-md5", "shieldwall-sha1", "shieldwall-sha256"}

    def lines(name: str) -> list[str]:
        r = reader.get(f"/api/v1/exports/suricata-datasets/{name}.lst")
        assert r.status_code == 200, r.text
        return r.text.split()

    # Networks cannot be dataset members; they stay in the rule form.
    assert sorted(lines("shieldwall-ip-dst")) == ["192.0.2.99", "203.0.113.7", "203.0.113.8"]
    assert lines("shieldwall-ip-src") == ["2001:db8::66"]
    domains = {base64.b64decode(x).decode() for x in lines("shieldwall-domain")}
    assert domains == {"evil.example", "c2.bad.example", "dual.example"}
    assert lines("shieldwall-md5") == ["0123456789abcdef0123456789abcdef"]
    assert lines("shieldwall-sha1") == ["cd" * 20]
    assert lines("shieldwall-sha256") == ["ab" * 32]
    ua = [base64.b64decode(x).decode() for x in lines("shieldwall-user-agent")]
    assert ua == ['Evil "Agent"; v1|x ✓']
    domain_rule = next(r for r in rules if "dns.query" in r)
    assert "type string" in domain_rule and "hashsize 1024" in domain_rule
    assert reader.get("/api/v1/exports/suricata-datasets/nope.lst").status_code == 422


def test_zeek_intel_file(admin: Api, intel: dict[str, Any]) -> None:
    reader: Api = intel["host"].api
    text = _text(reader, "zeek")
    lines = text.splitlines()
    assert lines[0] == "#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc\tmeta.url"
    rows = [line.split("\t") for line in lines[1:]]
    assert all(len(r) == 5 for r in rows)
    items = {(r[0], r[1]) for r in rows}
    assert {
        ("203.0.113.7", "Intel::ADDR"),
        ("198.51.100.0/24", "Intel::SUBNET"),
        ("2001:db8::66", "Intel::ADDR"),
        ("203.0.113.8", "Intel::ADDR"),
        ("evil.example", "Intel::DOMAIN"),
        ("dual.example", "Intel::DOMAIN"),
        ("192.0.2.99", "Intel::ADDR"),
        ('drop.example/get.php?id=1&x="q;"', "Intel::URL"),
        ("phish@evil.example", "Intel::EMAIL"),
        ("0123456789abcdef0123456789abcdef", "Intel::FILE_HASH"),
        ("drop.exe", "Intel::FILE_NAME"),
        ("cd" * 20, "Intel::FILE_HASH"),
        ('Evil "Agent"; v1|x ✓', "Intel::SOFTWARE"),
    } <= items
    main = intel["main"]
    assert all(
        r[2] == f"shieldwall e{main['id']}" and r[4].endswith(f"/events/view/{main['id']}")
        for r in rows
    )
    assert not any("alpha-secret" in line or "context.example" in line for line in lines)


def test_rpz_zone_and_hosts(admin: Api, intel: dict[str, Any]) -> None:
    reader: Api = intel["host"].api
    text = _text(reader, "rpz", origin="rpz.test", policy="nodata")
    zone = dns.zone.from_text(text, origin="rpz.test.", relativize=True, check_origin=True)
    names = {str(n) for n, node in zone.nodes.items() if node.get_rdataset(1, dns.rdatatype.CNAME)}
    assert {"evil.example", "*.evil.example", "c2.bad.example", "dual.example"} <= names
    assert "*.c2.bad.example" not in names  # a hostname is only itself
    assert "32.7.113.0.203.rpz-ip" in names and "24.0.100.51.198.rpz-ip" in names
    assert "32.99.2.0.192.rpz-ip" in names  # the answer address of domain|ip
    assert all(
        rd.target.to_text() == "*."
        for _, node in zone.nodes.items()
        if (rs := node.get_rdataset(1, dns.rdatatype.CNAME))
        for rd in rs
    )
    assert not any("alpha-secret" in n for n in names)
    bad = reader.get("/api/v1/exports/rpz", params={"policy": "teleport"})
    assert bad.status_code == 422 and "policy" in bad.text
    hosts = _text(reader, "hosts").splitlines()
    assert "0.0.0.0 evil.example" in hosts and "0.0.0.0 c2.bad.example" in hosts
    assert all(line.startswith("0.0.0.0 ") for line in hosts)


def test_rpz_ipv6_trigger() -> None:
    from shieldwall.detection.exports.dns import _ip_trigger

    assert _ip_trigger("2001:db8::66") == "128.66.zz.db8.2001.rpz-ip"
    assert _ip_trigger("2001:db8:0:1::/64") == "64.zz.1.0.db8.2001.rpz-ip"
    assert _ip_trigger("10.1.2.3") == "32.3.2.1.10.rpz-ip"
    assert _ip_trigger("not an address") is None
    assert _ip_trigger("fe80::1") == "128.1.zz.fe80.rpz-ip"
    assert _ip_trigger("::1") == "128.1.zz.rpz-ip"
    assert _ip_trigger("2001:db8:1:2:3:4:5:6") == "128.6.5.4.3.2.1.db8.2001.rpz-ip"


def test_yara_bundle_compiles_and_matches(admin: Api, intel: dict[str, Any]) -> None:
    reader: Api = intel["host"].api
    text = _text(reader, "yara")
    rules = yara.compile(source=text)
    names = {m.rule for m in rules.match(data=b"xx dropper-marker second-marker")}
    renamed = next(iter(re.findall(r"rule (dropper_a\d+)", text)))
    assert names == {"dropper", renamed, "uses_dropper"}
    assert f"condition: {renamed}" in text  # the reference followed the renamed rule
    assert "left out" in text and "nonexistent_identifier" in text


def test_reader_sees_only_their_own_view(admin: Api, intel: dict[str, Any]) -> None:
    alpha, beta = intel["alpha"], intel["beta"]
    for fmt in ("suricata", "snort", "zeek", "rpz", "hosts"):
        assert "alpha-secret.example" in _text(alpha.api, fmt), fmt
        assert "alpha-secret.example" not in _text(beta.api, fmt), fmt
        assert "alpha-secret.example" in _text(admin, fmt), fmt  # site admins see everything
    assert "evil.example" in _text(beta.api, "zeek")


def test_filters_and_what_is_left_out(admin: Api, intel: dict[str, Any]) -> None:
    reader: Api = intel["host"].api
    assert "unpublished.example" in _text(reader, "zeek", include_unpublished=True)
    only = _text(reader, "zeek", type="domain")
    assert {line.split("\t")[0] for line in only.splitlines()[1:]} == {"evil.example"}
    tagged = _text(reader, "zeek", tag="tlp:green")
    assert tagged.splitlines()[1:] == []
    r = reader.get("/api/v1/exports/zeek", params={"since": "not a time"})
    assert r.status_code == 422 and "since" in r.text
    assert reader.get("/api/v1/exports/pcap").status_code == 422
    formats = {f["name"] for f in reader.get("/api/v1/exports").json()["items"]}
    assert {"suricata", "snort", "zeek", "rpz", "hosts", "yara", "suricata-datasets"} <= formats


def test_cli_writes_the_file_whole(instance: Any, intel: dict[str, Any], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from shieldwall.cli.main import app as cli

    out = tmp_path / "rules" / "shieldwall.rules"
    out.parent.mkdir()
    host = intel["host"]
    result = CliRunner().invoke(cli, ["export", "suricata", "--user", host.email, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert not out.with_name(out.name + ".partial").exists()
    rules = _rules(out.read_text())
    assert rules and all(suricataparser.parse_rule(r) for r in rules)
    assert "alpha-secret" not in out.read_text()
    datasets = tmp_path / "datasets"
    result = CliRunner().invoke(
        cli, ["export", "suricata-datasets", str(datasets), "--user", host.email]
    )
    assert result.exit_code == 0, result.output
    assert (datasets / "shieldwall-datasets.rules").exists()
    assert sorted((datasets / "shieldwall-ip-dst.lst").read_text().split()) == [
        "192.0.2.99",
        "203.0.113.7",
        "203.0.113.8",
    ]
    bad = CliRunner().invoke(cli, ["export", "zeek", "--user", host.email, "--tag", "no-such-tag"])
    assert bad.exit_code == 0  # an unknown tag matches nothing
    assert bad.stdout.splitlines()[1:] == []
    nobody = CliRunner().invoke(cli, ["export", "zeek", "--user", "nobody@nowhere.test"])
    assert nobody.exit_code == 2 and "nobody@nowhere.test" in nobody.output


def test_a_bad_filter_is_refused_before_a_sensor_export_starts(
    admin: Api, intel: dict[str, Any]
) -> None:
    """The export's queries are built before the answer starts: a bad filter gets its 422
    (naming it) on events/restSearch too, where the events are looked up first."""
    for path in ("/events/restSearch", "/attributes/restSearch"):
        for fmt in ("suricata", "zeek", "text", "csv", "stix2"):
            r = admin.post(path, json={"returnFormat": fmt, "quickFilter": "x" * 10_001})
            assert r.status_code == 422, (path, fmt, r.status_code, r.text[:200])
            assert "quickFilter" in r.text


def test_rule_revisions_are_the_attribute_timestamps(admin: Api) -> None:
    """rev is the attribute's timestamp in whole epoch seconds (the database computes it:
    a fraction of a second is cut, as Python's int() cuts it)."""
    stamps = {
        "rev-whole.example": ("2026-01-02T03:04:05+00:00", 1767323045),
        "rev-fraction.example": ("2026-01-02T03:04:05.999999+00:00", 1767323045),
        "rev-old.example": ("2001-09-09T01:46:40.5+00:00", 1_000_000_000),
    }
    event = _event(
        admin,
        "revisions",
        [
            {"type": "hostname", "value": name, "to_ids": True, "timestamp": iso}
            for name, (iso, _) in stamps.items()
        ],
    )
    _publish(admin, event)
    for fmt in ("suricata", "snort"):
        rules = _rules(_text(admin, fmt, event=str(event["id"])))
        for name, (_, epoch) in stamps.items():
            revs = {
                m.group(1) for r in rules if name in r for m in [re.search(r"rev:(\d+);", r)] if m
            }
            assert revs == {str(epoch)}, (fmt, name, revs)
