"""The real PyMISP asking restSearch for sensor formats (suricata, snort, rpz, yara, and zeek
through a direct call): rules that parse, only to_ids indicators, only what the caller may
see, warninglist hits left out with enforceWarninglist."""

from __future__ import annotations

from collections.abc import Callable

import dns.zone
import idstools.rule
import suricataparser
import yara
from pymisp import MISPEvent, PyMISP

YARA_RULE = 'rule sensor_marker { strings: $a = "sensor-marker" condition: $a }'


def _event(misp: PyMISP, info: str, distribution: int, *values: tuple[str, str, bool]) -> MISPEvent:
    e = MISPEvent()
    e.info = info
    e.distribution = distribution
    for t, v, ids in values:
        e.add_attribute(t, v, to_ids=ids)
    created = misp.add_event(e, pythonify=True)
    assert isinstance(created, MISPEvent), created
    return created


def test_sensor_formats_through_pymisp(misp: PyMISP, misp_as: Callable[[str, str], PyMISP]) -> None:
    alpha = misp_as("ALPHA-CERT", "publisher")
    beta = misp_as("BETA-CERT", "user")
    _event(
        alpha,
        "shared sensor intel",
        1,
        ("domain", "sensor.example", True),
        ("ip-dst", "203.0.113.50", True),
        ("ip-dst", "8.8.8.8", True),
        ("domain", "context-only.example", False),
        ("yara", YARA_RULE, True),
    )
    _event(alpha, "alpha only", 0, ("domain", "alpha-only.example", True))

    rules = alpha.search(controller="attributes", return_format="suricata")
    lines = [x for x in rules.splitlines() if x and not x.startswith("#")]
    assert lines and all(suricataparser.parse_rule(x) for x in lines)
    assert "sensor.example" in rules and "alpha-only.example" in rules
    assert "context-only.example" not in rules  # not for IDS

    seen_by_beta = beta.search(controller="events", return_format="suricata")
    assert "sensor.example" in seen_by_beta and "alpha-only.example" not in seen_by_beta

    snort = beta.search(controller="attributes", return_format="snort")
    assert all(idstools.rule.parse(x) for x in snort.splitlines() if x and not x.startswith("#"))
    assert "|06|sensor|07|example|00|" in snort

    zone = beta.search(controller="attributes", return_format="rpz")
    names = {str(n) for n in dns.zone.from_text(zone, origin="rpz.shieldwall.").nodes}
    assert {"sensor.example", "*.sensor.example", "32.50.113.0.203.rpz-ip"} <= names

    bundle = beta.search(controller="attributes", return_format="yara")
    assert yara.compile(source=bundle).match(data=b"..sensor-marker..")

    zeek = beta.direct_call("attributes/restSearch", {"returnFormat": "zeek"})
    assert "sensor.example\tIntel::DOMAIN" in zeek and "alpha-only" not in zeek

    # With the resolvers list enabled, enforceWarninglist leaves 8.8.8.8 out.
    assert "8.8.8.8" in beta.search(controller="attributes", return_format="suricata")
    enabled = misp.enable_warninglist("List of known IPv4 public DNS resolvers")
    assert "errors" not in enabled, enabled
    enforced = beta.search(
        controller="attributes", return_format="suricata", enforce_warninglist=True
    )
    assert "8.8.8.8" not in enforced and "203.0.113.50" in enforced
