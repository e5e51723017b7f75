"""Attribute types: normalisation and validation per type, from pymisp's describeTypes."""

from __future__ import annotations

import ipaddress
import json
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shieldwall.intel.errors import InvalidInput
from shieldwall.intel.types import (
    check_type_and_category,
    normaliser,
    split_and_normalise,
    type_table,
)

MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def _describe_types() -> dict:
    text = resources.files("pymisp").joinpath("data/describeTypes.json").read_text("utf-8")
    return json.loads(text)["result"]


DESCRIBE = _describe_types()


def norm(attr_type: str, value: str) -> str:
    v1, v2 = split_and_normalise(attr_type, value)
    assert v2 == ""
    return v1


def refused(attr_type: str, value: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        split_and_normalise(attr_type, value)
    assert info.value.field == "value"
    assert attr_type in info.value.detail
    return info.value


# ---------------------------------------------------------------- IP addresses


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("  192.0.2.1\n", "192.0.2.1"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("2001:0db8:0000::0001", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("[2001:DB8::AB]", "2001:db8::ab"),
        ("::FFFF:192.0.2.1", "::ffff:c000:201"),
        ("10.1.2.3/8", "10.0.0.0/8"),
        ("192.0.2.77/24", "192.0.2.0/24"),
        ("192.0.2.5/32", "192.0.2.5/32"),
        ("2001:db8::1234/32", "2001:db8::/32"),
    ],
)
@pytest.mark.parametrize("attr_type", ["ip-src", "ip-dst"])
def test_ip_canonical_forms(attr_type: str, raw: str, canonical: str) -> None:
    got = norm(attr_type, raw)
    # The canonical form is the one the standard library prints.
    if "/" in canonical:
        assert got == str(ipaddress.ip_network(canonical))
    else:
        assert got == str(ipaddress.ip_address(canonical))
    assert got == canonical


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "256.1.1.1",
        "1.2.3",
        "evil.example",
        "2001:db8:::1",
        "10.0.0.0/33",
        "1.2.3.4/abc",
        "[1.2.3.4",
        "1.2.3.4 5",
    ],
)
def test_ip_refused(raw: str) -> None:
    e = refused("ip-dst", raw)
    assert "IP" in e.detail


# ---------------------------------------------------------------- host names


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("Evil.Example", "evil.example"),
        ("EVIL.example.", "evil.example"),
        ("  www.Evil.Example.  ", "www.evil.example"),
        ("_dmarc.example.org", "_dmarc.example.org"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("BÜCHER.Example", "xn--bcher-kva.example"),
        ("a" * 63 + ".example", "a" * 63 + ".example"),
        ("localhost", "localhost"),
    ],
)
@pytest.mark.parametrize("attr_type", ["hostname", "domain"])
def test_hostname_canonical_forms(attr_type: str, raw: str, canonical: str) -> None:
    assert norm(attr_type, raw) == canonical


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("-bad.example", "label"),
        ("bad-.example", "label"),
        ("a..example", "label"),
        ("a" * 64 + ".example", "label"),
        ("evil!.example", "label"),
        ("spaced host.example", "label"),
        ("example", "two labels"),
        (".", "host name"),
        ("", "host name"),
        (("a" * 60 + ".") * 5 + "example", "host name"),
    ],
)
def test_hostname_refused_with_reason(raw: str, reason: str) -> None:
    for attr_type in ("hostname", "domain"):
        e = refused(attr_type, raw)
        assert reason in e.detail


# ---------------------------------------------------------------- hashes

HASH_SIZES = {
    "md5": 32,
    "sha1": 40,
    "sha224": 56,
    "sha256": 64,
    "sha384": 96,
    "sha512": 128,
    "sha512/224": 56,
    "sha512/256": 64,
    "sha3-224": 56,
    "sha3-256": 64,
    "sha3-384": 96,
    "sha3-512": 128,
    "imphash": 32,
    "authentihash": 64,
    "x509-fingerprint-md5": 32,
    "x509-fingerprint-sha1": 40,
    "x509-fingerprint-sha256": 64,
    "ja3-fingerprint-md5": 32,
    "hassh-md5": 32,
    "hasshserver-md5": 32,
    "cdhash": 40,
    "pehash": 40,
}


@pytest.mark.parametrize(("attr_type", "size"), sorted(HASH_SIZES.items()))
def test_hash_lengths(attr_type: str, size: int) -> None:
    assert attr_type in DESCRIBE["types"]
    good = ("AbCdEf0123456789" * 10)[:size]
    assert norm(attr_type, good) == good.lower()
    assert norm(attr_type, f"  {good.upper()} ") == good.lower()
    for wrong in (size - 1, size + 1, size * 2):
        e = refused(attr_type, ("a" * wrong))
        assert str(size) in e.detail and "hexadecimal" in e.detail
    refused(attr_type, "g" * size)  # right length, not hexadecimal
    refused(attr_type, "")


# ---------------------------------------------------------------- ports, e-mails, AS, MAC


@pytest.mark.parametrize(
    ("raw", "canonical"), [("0", "0"), ("80", "80"), ("0443", "443"), (" 65535 ", "65535")]
)
def test_port_accepted(raw: str, canonical: str) -> None:
    assert norm("port", raw) == canonical


@pytest.mark.parametrize("raw", ["65536", "-1", "http", "", "8.5", "1e3", "²", "٤٤٣"])
def test_port_refused(raw: str) -> None:
    e = refused("port", raw)
    assert "0 to 65535" in e.detail


@pytest.mark.parametrize(
    "attr_type",
    ["email", "email-src", "email-dst", "email-reply-to", "target-email", "whois-registrant-email"],
)
def test_email(attr_type: str) -> None:
    assert norm(attr_type, " John.Doe@Example.COM ") == "john.doe@example.com"
    assert norm(attr_type, "a+tag@sub.example.org") == "a+tag@sub.example.org"
    for bad in ("no-at-sign", "two@@example.com", "a@b@c", "spa ce@example.com", "@", ""):
        refused(attr_type, bad)


@pytest.mark.parametrize(
    ("raw", "number"),
    [
        ("AS1234", 1234),
        ("as1234", 1234),
        ("1234", 1234),
        (" AS64496 ", 64496),
        ("AS1.10", 65546),
        ("1.0", 65536),
        ("AS0.1234", 1234),
        ("AS4294967295", 4294967295),
        ("AS65535.65535", 4294967295),
    ],
)
def test_as_numbers(raw: str, number: int) -> None:
    got = norm("AS", raw)
    assert got == norm("AS", str(number))
    assert int(got.upper().removeprefix("AS")) == number


@pytest.mark.parametrize(
    "raw", ["AS", "ASX", "AS4294967296", "AS-1", "AS1.65536", "AS65536.0", "AS1.2.3", "AS1.", ""]
)
def test_as_refused(raw: str) -> None:
    e = refused("AS", raw)
    assert "AS" in e.detail


@pytest.mark.parametrize(
    "raw", ["00:1A:2B:3C:4D:5E", "00-1a-2b-3c-4d-5e", "001a2b3c4d5e", " 00:1a:2b:3c:4d:5e "]
)
def test_mac_address(raw: str) -> None:
    assert norm("mac-address", raw) == "00:1a:2b:3c:4d:5e"


@pytest.mark.parametrize(
    "raw", ["00:1a:2b:3c:4d", "00:1a-2b:3c:4d:5e", "00:1a:2b:3c:4d:5g", "001a2b3c4d5e6f", ""]
)
def test_mac_refused(raw: str) -> None:
    refused("mac-address", raw)


# ---------------------------------------------------------------- composite types


@pytest.mark.parametrize(
    ("attr_type", "raw", "parts"),
    [
        ("ip-dst|port", "10.1.1.1|8443", ("10.1.1.1", "8443")),
        ("ip-src|port", "2001:DB8::1|0080", ("2001:db8::1", "80")),
        ("ip-dst|port", "[2001:db8::1]|443", ("2001:db8::1", "443")),
        ("domain|ip", "Evil.Example.|192.0.2.1", ("evil.example", "192.0.2.1")),
        ("domain|ip", "c2.example|2001:DB8::0:1", ("c2.example", "2001:db8::1")),
        ("hostname|port", "WWW.Evil.Example|8080", ("www.evil.example", "8080")),
        ("filename|md5", "Invoice.PDF.exe|" + MD5.upper(), ("Invoice.PDF.exe", MD5)),
        ("filename|sha1", "a.dll|" + SHA1, ("a.dll", SHA1)),
        ("filename|sha256", "dropper.bin|" + SHA256.upper(), ("dropper.bin", SHA256)),
        ("malware-sample", "Sample.EXE|" + MD5.upper(), ("Sample.EXE", MD5)),
        ("regkey|value", r"HKLM\Software\Run|C:\evil.exe", (r"HKLM\Software\Run", r"C:\evil.exe")),
    ],
)
def test_composite_split(attr_type: str, raw: str, parts: tuple[str, str]) -> None:
    assert split_and_normalise(attr_type, raw) == parts


@pytest.mark.parametrize(
    ("attr_type", "raw"),
    [
        ("ip-dst|port", "10.1.1.1"),
        ("ip-dst|port", "10.1.1.1|80|81"),
        ("ip-dst|port", "10.1.1.1|70000"),
        ("ip-dst|port", "evil.example|80"),
        ("domain|ip", "evil.example"),
        ("domain|ip", "evil.example|192.0.2.1|x"),
        ("domain|ip", "192.0.2.1|evil.example"),
        ("hostname|port", "www.example"),
        ("hostname|port", "www.example|port"),
        ("filename|md5", "a.exe"),
        ("filename|md5", "a.exe|" + SHA1),
        ("filename|md5", "a|b|" + MD5),
        ("malware-sample", "sample.exe"),
        ("malware-sample", "sample.exe|" + SHA256),
        ("filename|sha256", "|" + SHA256),
    ],
)
def test_composite_refused(attr_type: str, raw: str) -> None:
    refused(attr_type, raw)


def test_composite_wrong_number_of_parts_says_so() -> None:
    for raw in ("10.1.1.1", "10.1.1.1|80|81"):
        e = refused("ip-dst|port", raw)
        assert "two parts" in e.detail


# ---------------------------------------------------------------- URLs and others


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("HTTPS://Evil.Example/Path/To?Q=AbC#Frag", "https://evil.example/Path/To?Q=AbC#Frag"),
        ("http://EVIL.example:8080/A", "http://evil.example:8080/A"),
        ("hxxp://Evil.Example/X", "hxxp://evil.example/X"),
        (
            "ftp://User:PassWord@FTP.Example/Dir/File.TXT",
            "ftp://User:PassWord@ftp.example/Dir/File.TXT",
        ),
        ("  https://evil.example/  ", "https://evil.example/"),
    ],
)
def test_url_lowercases_scheme_and_host_only(raw: str, canonical: str) -> None:
    assert norm("url", raw) == canonical
    assert norm("link", raw) == canonical


def test_url_refuses_empty() -> None:
    refused("url", "   ")


@pytest.mark.parametrize(
    ("attr_type", "raw", "canonical"),
    [
        ("float", "1.50", "1.5"),
        ("float", "2.0", "2"),
        ("integer", " 0042 ", "42"),
        ("integer", "-7", "-7"),
        ("counter", "12", "12"),
        ("size-in-bytes", "1024", "1024"),
        ("boolean", "TRUE", "1"),
        ("boolean", "no", "0"),
        ("uuid", "5E4F5A0B-1B2C-4D3E-8F90-A1B2C3D4E5F6", "5e4f5a0b-1b2c-4d3e-8f90-a1b2c3d4e5f6"),
        ("datetime", "2024-01-02T03:04:05Z", "2024-01-02T03:04:05+00:00"),
        ("datetime", "2024-01-02T05:04:05+02:00", "2024-01-02T03:04:05+00:00"),
        ("vulnerability", "cve-2021-44228", "CVE-2021-44228"),
        ("cpe", "CPE:2.3:a:Apache:Log4j:2.14.1", "cpe:2.3:a:apache:log4j:2.14.1"),
    ],
)
def test_other_normalisers(attr_type: str, raw: str, canonical: str) -> None:
    assert norm(attr_type, raw) == canonical


@pytest.mark.parametrize(
    ("attr_type", "raw"),
    [
        ("float", "one"),
        ("integer", "1.5"),
        ("counter", "-1"),
        ("size-in-bytes", "-10"),
        ("boolean", "maybe"),
        ("uuid", "not-a-uuid"),
        ("datetime", "yesterday"),
        ("cpe", "apache:log4j"),
        ("ssdeep", "not ssdeep"),
    ],
)
def test_other_types_refused(attr_type: str, raw: str) -> None:
    refused(attr_type, raw)


def test_raw_types_keep_inner_whitespace() -> None:
    rule = '\nrule x {\n  strings:\n    $a = "X"\n  condition:\n    $a\n}\n'
    assert norm("yara", rule) == rule.strip("\r\n")
    assert "\n  strings:" in norm("yara", rule)
    assert norm("text", "  two  spaces  ") == "  two  spaces  "


def test_value_over_one_mebibyte_refused() -> None:
    assert norm("text", "a" * (1024 * 1024)) == "a" * (1024 * 1024)
    with pytest.raises(InvalidInput) as info:
        split_and_normalise("text", "a" * (1024 * 1024 + 1))
    assert info.value.field == "value" and "1 MiB" in info.value.detail


# ---------------------------------------------------------------- type and category


def test_every_type_has_a_default_category_that_allows_it() -> None:
    table = type_table()
    assert len(table.types) == len(DESCRIBE["types"]) == 194
    for attr_type in DESCRIBE["types"]:
        category = check_type_and_category(attr_type, None)
        assert category == DESCRIBE["sane_defaults"][attr_type]["default_category"]
        assert attr_type in DESCRIBE["category_type_mappings"][category]


def test_every_category_type_pair_of_pymisp_is_accepted_and_others_refused() -> None:
    mappings = DESCRIBE["category_type_mappings"]
    assert set(mappings) == set(DESCRIBE["categories"])
    for category, types in mappings.items():
        allowed = set(types)
        for attr_type in DESCRIBE["types"]:
            if attr_type in allowed:
                assert check_type_and_category(attr_type, category) == category
            else:
                with pytest.raises(InvalidInput) as info:
                    check_type_and_category(attr_type, category)
                assert info.value.field == "category"
                assert attr_type in info.value.detail and category in info.value.detail


def test_unknown_type_and_category_refused_naming_field() -> None:
    with pytest.raises(InvalidInput) as info:
        check_type_and_category("no-such-type", None)
    assert info.value.field == "type" and "no-such-type" in info.value.detail
    with pytest.raises(InvalidInput) as info:
        check_type_and_category("ip-dst", "No Such Category")
    assert info.value.field == "category" and "No Such Category" in info.value.detail
    with pytest.raises(InvalidInput) as info:
        check_type_and_category("ip-dst", "Person")
    assert info.value.field == "category"


# ---------------------------------------------------------------- all 194 types

PLAUSIBLE: dict[str, str] = {
    "md5": MD5,
    "sha1": SHA1,
    "sha256": SHA256,
    "filename": "invoice.pdf.exe",
    "pdb": r"C:\build\loader.pdb",
    "filename|md5": f"invoice.exe|{MD5}",
    "filename|sha1": f"invoice.exe|{SHA1}",
    "filename|sha256": f"invoice.exe|{SHA256}",
    "ip-src": "198.51.100.7",
    "ip-dst": "2001:db8::7",
    "hostname": "mail.evil.example",
    "domain": "evil.example",
    "domain|ip": "evil.example|198.51.100.7",
    "email": "a@evil.example",
    "email-src": "phisher@evil.example",
    "eppn": "user@uni.example",
    "email-dst": "victim@corp.example",
    "email-subject": "Your invoice",
    "email-attachment": "invoice.zip",
    "email-body": "Please open the attachment.",
    "float": "3.14",
    "git-commit-id": SHA1,
    "url": "https://evil.example/login",
    "http-method": "POST",
    "user-agent": "Mozilla/5.0 (evil)",
    "ja3-fingerprint-md5": MD5,
    "jarm-fingerprint": "2ad2ad0002ad2ad00042d42d00000069d641f34fe76acdc05c40262f8815e5",
    "favicon-mmh3": "-1234567890",
    "hassh-md5": MD5,
    "hasshserver-md5": MD5,
    "regkey": r"HKLM\Software\Microsoft\Windows\CurrentVersion\Run",
    "regkey|value": r"HKLM\Software\Microsoft\Windows\CurrentVersion\Run|C:\evil.exe",
    "AS": "AS64496",
    "snort": 'alert tcp any any -> any 80 (msg:"x"; sid:1;)',
    "suricata": 'alert http any any -> any any (msg:"x"; sid:2;)',
    "bro": "event x() {}",
    "zeek": "event x() {}",
    "community-id": "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
    "dom-hash": "a1b2c3d4e5f6",
    "pattern-in-file": "MZ\\x90\\x00",
    "pattern-in-traffic": "GET /evil",
    "pattern-in-memory": "evil-mutex",
    "filename-pattern": "*.scr",
    "pgp-public-key": "-----BEGIN PGP PUBLIC KEY BLOCK-----",
    "pgp-private-key": "-----BEGIN PGP PRIVATE KEY BLOCK-----",
    "ssh-fingerprint": "SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8",
    "yara": "rule x { condition: true }",
    "stix2-pattern": "[ipv4-addr:value = '198.51.100.7']",
    "sigma": "title: x\ndetection:\n  condition: x",
    "gene": "name: x",
    "kusto-query": "DeviceEvents | take 1",
    "mime-type": "application/x-msdownload",
    "identity-card-number": "X1234567",
    "cookie": "session=abc",
    "vulnerability": "CVE-2021-44228",
    "cpe": "cpe:2.3:a:apache:log4j:2.14.1:*:*:*:*:*:*:*",
    "weakness": "CWE-79",
    "attachment": "report.pdf",
    "malware-sample": f"sample.exe|{MD5}",
    "link": "https://report.example/x",
    "comment": "seen in campaign",
    "text": "free text",
    "hex": "4d5a9000",
    "other": "anything",
    "named pipe": r"\\.\pipe\evil",
    "mutex": "Global\\evil",
    "process-state": "running",
    "target-user": "jdoe",
    "target-email": "jdoe@corp.example",
    "target-machine": "ws-042",
    "target-org": "Corp",
    "target-location": "Brussels",
    "target-external": "partner",
    "btc": "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
    "dash": "XpESxaUmonkq8RaLLp46Brx2K39ggQe226",
    "xmr": "4AdUndXHHZ6cfufTMvppY6JwXNouMBzSkbLYfpAV5Usx3skxNgYeYTRj5UzqtReoS44qo9mtmXCqY45DJ852K5Jv2684Rge",
    "iban": "BE71096123456769",
    "bic": "GEBABEBB",
    "bank-account-nr": "096123456769",
    "aba-rtn": "011000015",
    "bin": "424242",
    "cc-number": "4242424242424242",
    "prtn": "+3225551234",
    "phone-number": "+3225551234",
    "threat-actor": "APT-EX",
    "campaign-name": "Operation Example",
    "campaign-id": "CAMP-1",
    "malware-type": "ransomware",
    "uri": "/wp-admin/evil.php",
    "authentihash": SHA256,
    "vhash": "0150366d1570z1b",
    "ssdeep": "96:s4Ud1Lj96tHHlZDrwciQmA+4uy1I0G4HYuL8N3TzS8QsO/wqWXLcMSx:sF1LjEtHHlZDrJzrhuyZvHYm8tKp/RWO",
    "imphash": MD5,
    "telfhash": "t1" + "0a" * 35,
    "pehash": SHA1,
    "impfuzzy": "48:x:y",
    "sha224": "d14a028c2a3a2bc9476102bb288234c415a2b01f828ea62ac5b3e42f",
    "sha384": "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b",
    "sha512": "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
    "sha512/224": "6ed0dd02806fa89e25de060c19d3ac86cabb87d6a0ddd05c333b84f4",
    "sha512/256": "c672b8d1ef56ed28ab87c3622c5114069bdd3ad7b8f9737498d0c01ecef0967a",
    "sha3-224": "6b4e03423667dbb73b6e15454f0eb1abd4597f9a1b078e3f5b5a6bc7",
    "sha3-256": "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a",
    "sha3-384": "0c63a75b845e4f7d01107d852e4c2485c51a50aaaa94fc61995e71bbee983a2ac3713831264adb47fb6bd1e058d5f004",
    "sha3-512": "a69f73cca23a9ac5c8b567dc185a756e97c982164fe25859e0d1dcc1475c80a615b2123af1f5f94c11e3e9402c3ac558f500199d95b6d3e301758586281dcd26",
    "tlsh": "T1A0B2C3" + "0" * 64,
    "cdhash": SHA1,
    "filename|authentihash": f"a.exe|{SHA256}",
    "filename|vhash": "a.exe|0150366d1570z1b",
    "filename|ssdeep": "a.exe|3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C",
    "filename|imphash": f"a.exe|{MD5}",
    "filename|impfuzzy": "a.exe|48:x:y",
    "filename|pehash": f"a.exe|{SHA1}",
    "filename|sha224": "a.exe|d14a028c2a3a2bc9476102bb288234c415a2b01f828ea62ac5b3e42f",
    "filename|sha384": "a.exe|38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b",
    "filename|sha512": "a.exe|cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
    "filename|sha512/224": "a.exe|6ed0dd02806fa89e25de060c19d3ac86cabb87d6a0ddd05c333b84f4",
    "filename|sha512/256": "a.exe|c672b8d1ef56ed28ab87c3622c5114069bdd3ad7b8f9737498d0c01ecef0967a",
    "filename|sha3-224": "a.exe|6b4e03423667dbb73b6e15454f0eb1abd4597f9a1b078e3f5b5a6bc7",
    "filename|sha3-256": "a.exe|a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a",
    "filename|sha3-384": "a.exe|0c63a75b845e4f7d01107d852e4c2485c51a50aaaa94fc61995e71bbee983a2ac3713831264adb47fb6bd1e058d5f004",
    "filename|sha3-512": "a.exe|a69f73cca23a9ac5c8b567dc185a756e97c982164fe25859e0d1dcc1475c80a615b2123af1f5f94c11e3e9402c3ac558f500199d95b6d3e301758586281dcd26",
    "filename|tlsh": "a.exe|T1A0B2C3" + "0" * 64,
    "windows-scheduled-task": r"\Microsoft\Windows\Evil",
    "windows-service-name": "EvilSvc",
    "windows-service-displayname": "Evil Service",
    "whois-registrant-email": "reg@evil.example",
    "whois-registrant-phone": "+3225551234",
    "whois-registrant-name": "J. Doe",
    "whois-registrant-org": "Evil Ltd",
    "whois-registrar": "Registrar Inc",
    "whois-creation-date": "2024-01-02",
    "x509-fingerprint-sha1": SHA1,
    "x509-fingerprint-md5": MD5,
    "x509-fingerprint-sha256": SHA256,
    "dns-soa-email": "hostmaster@evil.example",
    "size-in-bytes": "4096",
    "counter": "3",
    "integer": "-12",
    "datetime": "2024-01-02T03:04:05Z",
    "port": "443",
    "ip-dst|port": "198.51.100.7|443",
    "ip-src|port": "198.51.100.8|51515",
    "hostname|port": "mail.evil.example|25",
    "mac-address": "00:1a:2b:3c:4d:5e",
    "mac-eui-64": "00:1a:2b:ff:fe:3c:4d:5e",
    "email-dst-display-name": "Victim",
    "email-src-display-name": "CEO",
    "email-header": "Received: from x",
    "email-reply-to": "reply@evil.example",
    "email-x-mailer": "EvilMailer 1.0",
    "email-mime-boundary": "----=_Part_0",
    "email-thread-index": "AQHZ",
    "email-message-id": "<abc@evil.example>",
    "github-username": "evil-dev",
    "github-repository": "evil-dev/loader",
    "github-organisation": "evil-org",
    "jabber-id": "evil@jabber.example",
    "twitter-id": "evil_example",
    "dkim": "v=DKIM1; p=MIGf",
    "dkim-signature": "v=1; a=rsa-sha256; d=evil.example",
    "first-name": "John",
    "middle-name": "Q",
    "last-name": "Doe",
    "full-name": "John Q Doe",
    "date-of-birth": "1980-01-01",
    "place-of-birth": "Ghent",
    "gender": "male",
    "passport-number": "EH123456",
    "passport-country": "BE",
    "passport-expiration": "2030-01-01",
    "redress-number": "1234567",
    "nationality": "Belgian",
    "visa-number": "V123",
    "issue-date-of-the-visa": "2024-01-01",
    "primary-residence": "Brussels",
    "country-of-residence": "Belgium",
    "special-service-request": "WCHR",
    "frequent-flyer-number": "FF123",
    "travel-details": "BRU-LHR",
    "payment-details": "card ending 4242",
    "place-port-of-original-embarkation": "BRU",
    "place-port-of-clearance": "LHR",
    "place-port-of-onward-foreign-destination": "JFK",
    "passenger-name-record-locator-number": "ABC123",
    "mobile-application-id": "com.evil.app",
    "azure-application-id": "5e4f5a0b-1b2c-4d3e-8f90-a1b2c3d4e5f6",
    "chrome-extension-id": "abcdefghijklmnopabcdefghijklmnop",
    "edge-extension-id": "abcdefghijklmnopabcdefghijklmnop",
    "cortex": '{"analyzer": "x"}',
    "boolean": "true",
    "anonymised": "xxx-redacted",
    "onion-address": "duskgytldkxiuqc6.onion",
    "uuid": "5e4f5a0b-1b2c-4d3e-8f90-a1b2c3d4e5f6",
}

# Types with a format of their own: a value that is plainly not of the type is refused.
STRICT = sorted(
    {
        "ip-src",
        "ip-dst",
        "hostname",
        "domain",
        "port",
        "email",
        "email-src",
        "email-dst",
        "email-reply-to",
        "target-email",
        "whois-registrant-email",
        "dns-soa-email",
        "eppn",
        "AS",
        "mac-address",
        "float",
        "integer",
        "counter",
        "size-in-bytes",
        "favicon-mmh3",
        "datetime",
        "ssdeep",
        "boolean",
        "uuid",
        "cpe",
        "malware-sample",
    }
    | set(HASH_SIZES)
    | {"git-commit-id", "jarm-fingerprint", "telfhash"}
    | {t for t in DESCRIBE["types"] if "|" in t}
)


def test_plausible_values_cover_every_pymisp_type() -> None:
    assert set(PLAUSIBLE) == set(DESCRIBE["types"])


@pytest.mark.parametrize("attr_type", DESCRIBE["types"])
def test_every_type_accepts_a_plausible_value(attr_type: str) -> None:
    value = PLAUSIBLE[attr_type]
    v1, v2 = split_and_normalise(attr_type, value)
    assert v1
    composite = attr_type == "malware-sample" or "|" in attr_type
    assert bool(v2) == composite
    # Normalised values are stable: storing them again changes nothing.
    again = f"{v1}|{v2}" if composite else v1
    assert split_and_normalise(attr_type, again) == (v1, v2)
    category = check_type_and_category(attr_type, None)
    assert category in DESCRIBE["categories"]


@pytest.mark.parametrize("attr_type", DESCRIBE["types"])
def test_every_type_refuses_an_empty_value_with_a_reason(attr_type: str) -> None:
    for blank in ("", "   "):
        e = refused(attr_type, blank)
        assert e.detail.startswith("value") and ":" in e.detail


@pytest.mark.parametrize("attr_type", STRICT)
def test_strict_types_refuse_a_value_of_another_kind(attr_type: str) -> None:
    e = refused(attr_type, "zz not a value zz")
    reason = e.detail.split(": ", 1)[1]
    assert reason.strip()


# ---------------------------------------------------------------- idempotence (Hypothesis)


def _idempotent(attr_type: str, value: str) -> None:
    try:
        once = split_and_normalise(attr_type, value)
    except InvalidInput:
        return
    composite = attr_type == "malware-sample" or "|" in attr_type
    again = f"{once[0]}|{once[1]}" if composite else once[0]
    assert split_and_normalise(attr_type, again) == once


ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str)
networks = st.tuples(st.ip_addresses(), st.integers(0, 128)).map(
    lambda t: f"{t[0]}/{min(t[1], t[0].max_prefixlen)}"
)
ip_like = st.one_of(
    ipv4,
    ipv6,
    networks,
    ipv6.map(lambda s: f"[{s.upper()}]"),
    ipv4.map(lambda s: f"  {s} "),
    st.text(alphabet="0123456789abcdefABCDEF:./[] %", max_size=45),
)


@settings(max_examples=300, deadline=None)
@given(ip_like)
def test_ip_normalisation_is_idempotent(value: str) -> None:
    for attr_type in ("ip-src", "ip-dst"):
        _idempotent(attr_type, value)
    _idempotent("ip-dst|port", f"{value}|443")


_label_chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.üßéÄ。"
hostnames = st.one_of(
    st.lists(st.text(alphabet=_label_chars, min_size=1, max_size=20), min_size=1, max_size=5).map(
        ".".join
    ),
    st.from_regex(
        r"\A[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?){1,3}\.?\Z"
    ),
    st.text(max_size=40),
)


@settings(max_examples=400, deadline=None)
@given(hostnames)
def test_hostname_normalisation_is_idempotent(value: str) -> None:
    for attr_type in ("hostname", "domain"):
        _idempotent(attr_type, value)
    _idempotent("hostname|port", f"{value}|80")
    _idempotent("domain|ip", f"{value}|192.0.2.1")


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(HASH_SIZES)),
    st.data(),
)
def test_hash_normalisation_is_idempotent(attr_type: str, data: st.DataObject) -> None:
    size = HASH_SIZES[attr_type]
    value = data.draw(
        st.one_of(
            st.text(alphabet="0123456789abcdefABCDEF", min_size=size, max_size=size),
            st.text(alphabet="0123456789abcdefABCDEF \t", min_size=size - 2, max_size=size + 4),
            st.text(max_size=size + 2),
        )
    )
    _idempotent(attr_type, value)
    _idempotent(
        f"filename|{attr_type}" if f"filename|{attr_type}" in DESCRIBE["types"] else attr_type,
        f"f.exe|{value}",
    )
    if attr_type == "md5":
        _idempotent("malware-sample", f"f.exe|{value}")


def test_normaliser_of_untyped_types_keeps_text() -> None:
    assert normaliser("threat-actor")("  APT Example  ") == "APT Example"


def test_telfhash_plain_and_versioned_forms() -> None:
    assert norm("telfhash", "AB" * 35) == "ab" * 35
    assert norm("telfhash", "T1" + "AB" * 35) == "t1" + "ab" * 35
    refused("telfhash", "t2" + "ab" * 35)
    refused("telfhash", "ab" * 34)
