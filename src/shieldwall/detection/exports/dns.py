"""DNS blocking: a response policy zone (RPZ) and a hosts file."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator

from shieldwall.detection.exports import rules as r
from shieldwall.detection.exports.indicators import Indicator

NAME_TYPES = frozenset({"domain", "hostname", "domain|ip", "hostname|port"})
ADDRESS_TYPES = frozenset({"ip-dst", "ip-dst|port", "domain|ip"})
RPZ_TYPES = NAME_TYPES | ADDRESS_TYPES
HOSTS_TYPES = NAME_TYPES

# RPZ actions: the record a trigger gets.
POLICIES = {
    "nxdomain": "CNAME .",
    "nodata": "CNAME *.",
    "passthru": "CNAME rpz-passthru.",
    "drop": "CNAME rpz-drop.",
}


def rpz_policy(policy: str) -> str:
    """The action record for a policy name, or a walled garden `CNAME host.` for
    `walled-garden:host`."""
    if policy in POLICIES:
        return POLICIES[policy]
    if policy.startswith("walled-garden:"):
        host = r.hostname(policy.split(":", 1)[1])
        if host:
            return f"CNAME {host}."
    raise ValueError(
        f"unknown RPZ policy {policy!r}: use {', '.join(POLICIES)} or walled-garden:HOST"
    )


def _ip_trigger(value: str) -> str | None:
    """The rpz-ip owner name of an address or network (prefix length, then the address
    reversed: octets for IPv4, 16-bit groups with `zz` for the longest zero run for IPv6)."""
    try:
        net = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return None
    if net.version == 4:
        parts = str(net.network_address).split(".")
    else:
        parts = net.network_address.compressed.split(":")
        if "" in parts:  # "::" becomes one zz label
            i = parts.index("")
            parts = [p for p in parts[:i] if p] + ["zz"] + [p for p in parts[i:] if p]
    return f"{net.prefixlen}." + ".".join(reversed(parts)) + ".rpz-ip"


def rpz_zone(
    batches: Iterable[list[Indicator]], origin: str, serial: int, policy: str
) -> Iterator[bytes]:
    action = rpz_policy(policy)
    yield (
        f"$ORIGIN {origin.rstrip('.')}.\n$TTL 300\n"
        f"@ IN SOA localhost. hostmaster.localhost. ({serial} 3600 900 604800 300)\n"
        "@ IN NS localhost.\n"
    ).encode()
    # Owners repeat when several events hold a value; zone loaders fold identical records,
    # and remembering every owner would hold the whole export in memory.
    for batch in batches:
        lines: list[str] = []
        for i in batch:
            owners: list[str] = []
            if i.type in NAME_TYPES:
                name = r.hostname(i.value1)
                if name and _labels_ok(name):
                    owners.append(name)
                    if not i.type.startswith("hostname"):
                        owners.append("*." + name)
            if i.type in ADDRESS_TYPES:
                trigger = _ip_trigger(i.value2 if i.type == "domain|ip" else i.value1)
                if trigger:
                    owners.append(trigger)
            lines.extend(f"{owner} {action}" for owner in owners)
        if lines:
            yield ("\n".join(lines) + "\n").encode()


def _labels_ok(name: str) -> bool:
    return all(0 < len(label) <= 63 for label in name.split(".")) and not name.startswith("*")


def hosts_file(batches: Iterable[list[Indicator]], sink: str = "0.0.0.0") -> Iterator[bytes]:
    for batch in batches:
        lines = []
        for i in batch:
            name = r.hostname(i.value1)
            if name and _labels_ok(name):
                lines.append(f"{sink} {name}")
        if lines:
            yield ("\n".join(lines) + "\n").encode()
