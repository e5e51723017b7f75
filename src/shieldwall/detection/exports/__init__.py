"""Sensor exports: what a principal may see, as files sensors load. Every writer takes
batches of indicators (exports/indicators.py) and yields bytes, so an export of millions of
indicators streams from the database to the sensor without sitting in memory."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.orm import Session

from shieldwall.config import get_settings
from shieldwall.context import Ctx
from shieldwall.detection.exports import dns, snort, suricata, yara_bundle, zeek
from shieldwall.detection.exports.indicators import Indicator, Selection, stream_indicators
from shieldwall.intel.errors import InvalidInput


@dataclass(frozen=True)
class Format:
    name: str
    media_type: str
    filename: str
    types: frozenset[str]
    write: Callable[[Iterator[list[Indicator]], dict[str, Any]], Iterator[bytes]]
    description: str
    fields: frozenset[str]  # the Indicator fields the writer reads


# What each kind of writer reads of an indicator (exports/indicators.py leaves the rest out).
_RULE_FIELDS = frozenset(
    {"id", "uuid", "type", "value1", "value2", "epoch", "event_id", "event_uuid"}
)
_ZEEK_FIELDS = frozenset({"type", "category", "value1", "value2", "event_id", "event_info"})
_VALUE_FIELDS = frozenset({"type", "value1", "value2"})
_YARA_FIELDS = frozenset({"id", "uuid", "type", "value1", "value2", "event_id", "event_uuid"})


def _suricata_options() -> suricata.Options:
    s = get_settings()
    return suricata.Options(sid_base=s.sensor_sid_base, base_url=s.effective_base_url)


def _header(kind: str) -> str:
    return f"# {kind} rules exported by Shieldwall at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n"


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format(
            "suricata",
            "text/plain",
            "shieldwall.rules",
            suricata.RULE_TYPES,
            lambda b, _o: suricata.rules(_suricata_options(), b, _header("Suricata")),
            "Suricata 7 rules, one per indicator and protocol, stable sids",
            _RULE_FIELDS,
        ),
        Format(
            "suricata-sidmap",
            "text/plain",
            "sid-msg.map",
            suricata.RULE_TYPES,
            lambda b, _o: suricata.sid_map(_suricata_options(), b),
            "the sid map of the Suricata rules (sid || msg || reference)",
            _RULE_FIELDS,
        ),
        Format(
            "snort",
            "text/plain",
            "shieldwall-snort3.rules",
            snort.TYPES,
            lambda b, _o: snort.rules(_suricata_options(), b, _header("Snort 3")),
            "Snort 3 rules, one per indicator and protocol, stable sids",
            _RULE_FIELDS,
        ),
        Format(
            "zeek",
            "text/plain",
            "shieldwall.intel",
            zeek.TYPES,
            lambda b, _o: zeek.intel_file(b, get_settings().effective_base_url),
            "a Zeek Intel framework file",
            _ZEEK_FIELDS,
        ),
        Format(
            "rpz",
            "text/dns",
            "rpz.shieldwall.zone",
            dns.RPZ_TYPES,
            lambda b, o: dns.rpz_zone(
                b,
                o.get("origin") or "rpz.shieldwall",
                int(time.time()),
                o.get("policy") or "nxdomain",
            ),
            "a DNS response policy zone (names, their subdomains and answer addresses)",
            _VALUE_FIELDS,
        ),
        Format(
            "hosts",
            "text/plain",
            "hosts",
            dns.HOSTS_TYPES,
            lambda b, _o: dns.hosts_file(b),
            "a hosts file sending each name to 0.0.0.0",
            _VALUE_FIELDS,
        ),
        Format(
            "yara",
            "text/plain",
            "shieldwall.yar",
            yara_bundle.TYPES,
            lambda b, _o: yara_bundle.bundle(b),
            "the YARA rules stored as attributes, in one file that compiles",
            _YARA_FIELDS,
        ),
    )
}


def get_format(name: str, field: str = "format") -> Format:
    fmt = FORMATS.get(name.lower())
    if fmt is None:
        raise InvalidInput(
            f"unknown export format {name!r}; use one of {', '.join(FORMATS)} or suricata-datasets",
            field=field,
        )
    return fmt


def check_options(options: dict[str, Any]) -> None:
    policy = options.get("policy")
    if policy:
        try:
            dns.rpz_policy(policy)
        except ValueError as exc:
            raise InvalidInput(str(exc), field="policy") from exc


def export(
    session: Session, ctx: Ctx, fmt: Format, sel: Selection, options: dict[str, Any] | None = None
) -> Iterator[bytes]:
    """The export as chunks of bytes, read a batch at a time."""
    return export_many(session, ctx, fmt, [sel], options)


def export_many(
    session: Session,
    ctx: Ctx,
    fmt: Format,
    selections: Sequence[Selection],
    options: dict[str, Any] | None = None,
) -> Iterator[bytes]:
    """One export over several selections in turn (MISP's events/restSearch: the attributes
    of each batch of matching events), with one header. Every selection's query is built
    now, so a bad filter fails before anything is written."""
    opts = options or {}
    check_options(opts)
    streams = [
        stream_indicators(session, ctx, replace(sel, types=fmt.types, fields=fmt.fields))
        for sel in selections
    ]
    return fmt.write(itertools.chain.from_iterable(streams), opts)


# ---------------------------------------------------------------- Suricata datasets


def _dataset_selection(sel: Selection) -> Selection:
    return replace(sel, types=suricata.DATASET_TYPES, fields=_VALUE_FIELDS)


def dataset_counts(session: Session, ctx: Ctx, sel: Selection) -> dict[str, int]:
    """How many lines each dataset file holds (one pass, nothing kept)."""
    counts: dict[str, int] = {}
    for batch in stream_indicators(session, ctx, _dataset_selection(sel)):
        for name, found in suricata.dataset_lines(batch).items():
            counts[name] = counts.get(name, 0) + len(found)
    return counts


def dataset_file(session: Session, ctx: Ctx, sel: Selection, name: str) -> Iterator[bytes]:
    """One dataset's value file (its lines in attribute order)."""
    if name not in suricata.BY_NAME:
        raise InvalidInput(
            f"unknown dataset {name!r}; use one of {', '.join(suricata.BY_NAME)}", field="name"
        )
    batches = stream_indicators(session, ctx, _dataset_selection(sel))

    def lines() -> Iterator[bytes]:
        for batch in batches:
            found = suricata.dataset_lines(batch).get(name)
            if found:
                yield ("\n".join(found) + "\n").encode()

    return lines()


def write_datasets(session: Session, ctx: Ctx, sel: Selection, directory: Any) -> dict[str, int]:
    """Every dataset file and `shieldwall-datasets.rules` into a directory, in one pass;
    the rules name the files relative to Suricata's rule path. Returns the counts."""
    from pathlib import Path

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    handles: dict[str, Any] = {}
    counts: dict[str, int] = {}
    try:
        for batch in stream_indicators(session, ctx, _dataset_selection(sel)):
            for name, found in suricata.dataset_lines(batch).items():
                fh = handles.get(name)
                if fh is None:
                    fh = handles[name] = (out / f"{name}.lst").open("w")
                fh.write("\n".join(found) + "\n")
                counts[name] = counts.get(name, 0) + len(found)
    finally:
        for fh in handles.values():
            fh.close()
    (out / "shieldwall-datasets.rules").write_text(
        _header("Suricata dataset") + suricata.dataset_rules(_suricata_options(), counts)
    )
    return counts


def dataset_rules(session: Session, ctx: Ctx, sel: Selection) -> str:
    return _header("Suricata dataset") + suricata.dataset_rules(
        _suricata_options(), dataset_counts(session, ctx, sel)
    )
