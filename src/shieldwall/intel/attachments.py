"""Files carried by attachment and malware-sample attributes: checked and packed on the way
in (a malware sample as MISP packs it), read back only through the access rules."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyminizip
import sqlalchemy as sa
from sqlalchemy.orm import Session

from shieldwall.context import Ctx
from shieldwall.db.lists import in_values
from shieldwall.intel.common import get_attribute
from shieldwall.intel.errors import InvalidInput, NotFound, TooLarge
from shieldwall.intel.models import Attribute, AttributeAttachment, Event
from shieldwall.intel.search import SearchFilter, search_attributes
from shieldwall.server_settings import effective_settings

FILE_TYPES = frozenset({"attachment", "malware-sample"})
# MISP's (and every malware exchange's) password for zipped samples.
SAMPLE_PASSWORD = "infected"
_FILENAME_SUFFIX = ".filename.txt"
_NAME_MAX = 4096  # a file name, not a payload: larger is no MISP sample zip


@dataclass(frozen=True)
class Incoming:
    """A file as it will be stored, with the attribute value that goes with it."""

    value: str
    data: bytes


def decode(text: str, field: str, limit: int) -> bytes:
    """Strict base64 (standard alphabet, padding; whitespace between lines allowed)."""
    compact = "".join(text.split())
    # Checked before decoding: base64 is 4/3 of the bytes it carries.
    if len(compact) * 3 // 4 > limit + 2:
        raise _too_large(field, limit)
    try:
        raw = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("data is not valid base64", field=field) from None
    if len(raw) > limit:
        raise _too_large(field, limit)
    return raw


def _too_large(field: str, limit: int) -> TooLarge:
    return TooLarge(
        f"the file is larger than the {limit // (1024 * 1024)} MiB allowed "
        "(setting attachment_max_mb)",
        field=field,
    )


def sample_contents(data: bytes) -> tuple[str, str] | None:
    """(file name, md5) when `data` is a MISP malware-sample zip: two entries, `<md5>` and
    `<md5>.filename.txt`, both readable with the password."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = z.namelist()
            if len(names) != 2:
                return None
            meta = next((n for n in names if n.endswith(_FILENAME_SUFFIX)), None)
            if meta is None:
                return None
            md5 = meta[: -len(_FILENAME_SUFFIX)]
            if md5 not in names or z.getinfo(meta).file_size > _NAME_MAX:
                return None
            filename = z.read(meta, pwd=SAMPLE_PASSWORD.encode()).decode().strip()
    except (zipfile.BadZipFile, RuntimeError, UnicodeDecodeError, KeyError, ValueError):
        return None
    return filename, md5


def pack_sample(filename: str, content: bytes) -> tuple[bytes, str]:
    """The zip MISP stores for a malware sample (traditional zip encryption, which every
    unzip tool and PyMISP read) and the file's md5."""
    md5 = hashlib.md5(content, usedforsecurity=False).hexdigest()
    with tempfile.TemporaryDirectory(prefix="shieldwall-sample-") as tmp:
        folder = Path(tmp)
        (folder / md5).write_bytes(content)
        (folder / f"{md5}{_FILENAME_SUFFIX}").write_text(filename)
        out = folder / "sample.zip"
        pyminizip.compress_multiple(
            [str(folder / md5), str(folder / f"{md5}{_FILENAME_SUFFIX}")],
            ["", ""],
            str(out),
            SAMPLE_PASSWORD,
            6,
        )
        return out.read_bytes(), md5


def incoming(
    attr_type: str, value: str, data: str, *, encrypt: bool, field: str, limit: int | None = None
) -> Incoming:
    """Check a file sent with an attribute and turn it into what is stored. A malware sample
    sent as a MISP sample zip (a feed, another instance) is kept as it is; any other file,
    or one sent with `encrypt`, is packed, and the value becomes `filename|md5`. `field`
    names the attribute in errors ("" for a lone attribute)."""
    prefix = f"{field}." if field else ""
    if attr_type not in FILE_TYPES:
        raise InvalidInput(
            "data is only carried by attachment and malware-sample attributes",
            field=f"{prefix}data",
        )
    if limit is None:
        limit = effective_settings().attachment_max_bytes
    raw = decode(data, f"{prefix}data", limit)
    if attr_type == "attachment":
        return Incoming(value, raw)
    filename = value.split("|", 1)[0]
    if not encrypt:
        found = sample_contents(raw)
        if found is not None:
            return Incoming(f"{filename or found[0]}|{found[1]}", raw)
    if not filename:
        raise InvalidInput("a malware sample needs its file name as value", field=f"{prefix}value")
    packed, md5 = pack_sample(filename, raw)
    return Incoming(f"{filename}|{md5}", packed)


def insert(session: Session, rows: Iterable[tuple[int, bytes]]) -> None:
    """Store files for new attributes (attribute id, contents) in the caller's transaction."""
    batch = [{"attribute_id": i, "data": d, "size": len(d)} for i, d in rows]
    if batch:
        session.execute(sa.insert(AttributeAttachment), batch)


def replace(session: Session, attribute_id: int, data: bytes) -> bool:
    """Store `data` as the attribute's file in place of the one it has; returns whether the
    stored file changed."""
    old = session.execute(
        sa.select(AttributeAttachment.data).where(AttributeAttachment.attribute_id == attribute_id)
    ).scalar_one_or_none()
    if old is not None and bytes(old) == data:
        return False
    session.execute(
        sa.delete(AttributeAttachment).where(AttributeAttachment.attribute_id == attribute_id)
    )
    insert(session, [(attribute_id, data)])
    return True


def files_for(session: Session, attribute_ids: Iterable[int]) -> dict[int, bytes]:
    """Stored files by attribute id. Callers pass only attributes the reader may see."""
    q = sa.select(AttributeAttachment.attribute_id, AttributeAttachment.data).where(
        in_values(session, AttributeAttachment.attribute_id, sorted(set(attribute_ids)))
    )
    return {a: bytes(d) for a, d in session.execute(q)}


def attach_data(session: Session, attributes: Iterable[dict[str, Any]]) -> None:
    """Add MISP's `data` (base64) to the file attributes among these shaped attributes."""
    wanted = [a for a in attributes if a.get("type") in FILE_TYPES]
    if not wanted:
        return
    found = files_for(session, [int(a["id"]) for a in wanted])
    for a in wanted:
        content = found.get(int(a["id"]))
        if content is not None:
            a["data"] = base64.b64encode(content).decode()


@dataclass(frozen=True)
class Download:
    attribute: Attribute
    data: bytes
    filename: str
    media_type: str


def download(session: Session, ctx: Ctx, ref: str | int) -> Download:
    """The file of an attribute the caller may read, named as MISP names the download: an
    attachment by its value, a malware sample as `<file name>.zip` (still encrypted)."""
    attr, _ = get_attribute(session, ctx, ref)
    if attr.type not in FILE_TYPES:
        raise NotFound(f"attribute {ref} is not an attachment or malware-sample", field="id")
    found = files_for(session, [attr.id]).get(attr.id)
    if found is None:
        raise NotFound(f"attribute {ref} carries no file", field="id")
    if attr.type == "attachment":
        return Download(attr, found, attr.value1, "application/octet-stream")
    name = attr.value1.replace("\\", "/").rsplit("/", 1)[-1] or attr.value2
    return Download(attr, found, f"{name}.zip", "application/zip")


_MD5 = re.compile(r"^[0-9a-fA-F]{32}$")


def sample_search(
    session: Session, ctx: Ctx, *, md5: str | None, event: str | None, all_samples: bool
) -> list[dict[str, Any]]:
    """MISP's downloadSample: the malware samples the caller may read, by md5, by event, or
    (all_samples with a hash) every sample of the events where that hash appears. Each
    sample once: {"md5", "base64" (the encrypted zip), "filename", "attribute_id",
    "event_id", "event_info"}."""
    if md5 is None and event is None:
        raise InvalidInput("give a hash (md5), an eventID, or both", field="hash")
    if md5 is not None and not _MD5.match(md5):
        raise InvalidInput("only MD5 hashes fetch malware samples", field="hash")
    events = [event] if event is not None else []
    if md5 is not None and all_samples:
        holding = search_attributes(session, ctx, SearchFilter(value=[md5.lower()], limit=10_000))
        found = {str(a.event_id) for a, _ in holding}
        events = sorted(found & set(events)) if events else sorted(found)
        if not events:
            return []
        f = SearchFilter(type=["malware-sample"], event=events, limit=10_000)
    elif md5 is not None:
        f = SearchFilter(type=["malware-sample"], value=[md5.lower()], event=events, limit=10_000)
    else:
        f = SearchFilter(type=["malware-sample"], event=events, limit=10_000)
    rows = [a for a, _ in search_attributes(session, ctx, f)]
    if md5 is not None and not all_samples:
        rows = [a for a in rows if a.value2.lower() == md5.lower()]
    files = files_for(session, [a.id for a in rows])
    q = sa.select(Event.id, Event.info).where(Event.id.in_({a.event_id for a in rows}))
    infos: dict[int, str] = {event_id: info for event_id, info in session.execute(q)}
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for a in rows:
        if a.value2 in seen or a.id not in files:
            continue
        seen.add(a.value2)
        out.append(
            {
                "md5": a.value2,
                "base64": base64.b64encode(files[a.id]).decode(),
                "filename": a.value1,
                "attribute_id": str(a.id),
                "event_id": str(a.event_id),
                "event_info": infos.get(a.event_id, ""),
            }
        )
    return out
