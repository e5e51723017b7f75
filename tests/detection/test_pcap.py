"""pcaps built with scapy, read through the real tshark. tshark is Debian's package; when
it is missing the test installs it (apt-get, as root) and fails with the reason when it
cannot: this test is never skipped."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.packet import Raw
from scapy.utils import wrpcap

from shieldwall.detection import readers
from shieldwall.intel.errors import InvalidInput

LOCK = Path("/tmp/shieldwall-tshark-install.lock")


@pytest.fixture(scope="session")
def tshark() -> str:
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = shutil.which("tshark")
        if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            for cmd in (
                ["apt-get", "update", "-q"],
                ["apt-get", "install", "-y", "-q", "--no-install-recommends", "tshark"],
            ):
                subprocess.run(cmd, env=env, check=False, capture_output=True, timeout=900)
            found = shutil.which("tshark")
    if found is None:
        pytest.fail(
            "the pcap tests need tshark (Debian package `tshark`); it is not installed and "
            "could not be installed here: run `apt-get install tshark` as root"
        )
    return found


def _packets() -> list:
    http = b"GET /drop/x.exe HTTP/1.1\r\nHost: payload.example\r\nUser-Agent: EvilBot/1.0\r\n\r\n"
    return [
        IP(src="10.1.0.5", dst="203.0.113.9") / TCP(sport=50000, dport=443, flags="S"),
        IP(src="10.1.0.5", dst="10.1.0.1")
        / UDP(sport=53000, dport=53)
        / DNS(rd=1, qd=DNSQR(qname="www.evil.example")),
        IP(src="10.1.0.5", dst="192.0.2.50")
        / TCP(sport=50001, dport=80, flags="PA", seq=1, ack=1)
        / Raw(http),
        IPv6(src="2001:db8::5", dst="2001:db8:bad::1") / TCP(sport=50002, dport=22, flags="S"),
        IP(src="10.1.0.5", dst="192.0.2.77") / TCP(sport=50003, dport=443, flags="S"),  # a miss
    ]


def test_pcap_through_tshark(world, tmp_path: Path, tshark: str) -> None:
    world.publish(
        world.org_a,
        [
            ("ip-dst", "203.0.113.9"),
            ("domain", "evil.example"),
            ("url", "http://payload.example/drop/x.exe"),
            ("user-agent", "EvilBot/1.0"),
            ("ip-dst", "2001:db8:bad::/48"),
            ("ip-dst|port", "203.0.113.9|443"),
        ],
    )
    pcap = tmp_path / "capture.pcap"
    wrpcap(str(pcap), _packets())
    hunter = world.hunter(world.sensor_a)
    found = {(m.line, m.field, m.observable) for m in hunter.hunt_paths([str(pcap)])}
    assert found == {
        (1, "ip.dst", "203.0.113.9"),
        (1, "ip.dst|tcp.dstport", "203.0.113.9|443"),
        (2, "dns.qry.name", "www.evil.example"),
        (3, "http.host+http.request.uri", "payload.example/drop/x.exe"),
        (3, "http.user_agent", "EvilBot/1.0"),
        (4, "ipv6.dst", "2001:db8:bad::1"),
    }
    assert hunter.summary.formats == {"pcap": 1}
    # The sensor of another organisation, for which this is not shared, finds nothing.
    world.publish(world.org_b, [("ip-dst", "192.0.2.77")], distribution=0)
    assert [m.observable for m in world.hunt([str(pcap)], world.sensor_a)].count("192.0.2.77") == 0


def test_a_missing_tshark_is_reported_clearly(monkeypatch, tmp_path: Path) -> None:
    pcap = tmp_path / "x.pcap"
    wrpcap(str(pcap), _packets()[:1])
    # A PATH without tshark on it, as on a machine that lacks the package.
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(InvalidInput) as exc:
        list(readers.pcap_records(str(pcap)))
    assert "tshark" in exc.value.detail and "apt-get install tshark" in exc.value.detail
