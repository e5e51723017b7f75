"""The compiled warninglist matcher kept on disk: the next process reads it back instead of
compiling, and a copy is never used for another choice of lists (one enabled or disabled,
a list's version changed) nor when it cannot be read whole."""

from __future__ import annotations

import marshal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from shieldwall.config import get_settings
from shieldwall.context import system_ctx
from shieldwall.knowledge import warninglists
from shieldwall.knowledge.models import Warninglist

RESOLVERS = "List of known IPv4 public DNS resolvers"
EMPTY_HASHES = "List of known hashes for empty files"
EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"
MARKER = "marker.invalid"


def _set(instance: Any, names: list[str], enabled: bool) -> None:
    with instance.db.writing() as s:
        warninglists.set_enabled(s, system_ctx(instance.host_org_id), list(names), enabled)


def _stored() -> list[Path]:
    return sorted((get_settings().var_dir / warninglists.CACHE_DIR).glob("matcher-*.marshal"))


def _next_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget the compiled matcher of this process, as a new process starts without it."""
    monkeypatch.setattr(warninglists, "_compiled", None)


@pytest.fixture(autouse=True)
def _no_copy_yet(instance: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts as a process with no matcher, and no stored copy yet."""
    for path in _stored():
        path.unlink()
    _next_process(monkeypatch)


def _mark(path: Path) -> None:
    """Add a value to the stored copy's first list, so answers tell which copy was used."""
    stored = marshal.loads(path.read_bytes())
    stored["tables"]["names"][MARKER] = (1, 0)
    path.write_bytes(marshal.dumps(stored))


def _hit_names(instance: Any, value: str) -> set[str]:
    with instance.db.reading() as s:
        found = warninglists.check_values(s, [value])
    return {h.warninglist.name for h in found.get(value, [])}


def test_the_next_process_reads_the_stored_matcher(
    instance: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _set(instance, [RESOLVERS], True)
    with instance.db.reading() as s:
        first = warninglists.matcher(s)
    [path] = _stored()
    assert path.stat().st_size > 0
    _mark(path)
    _next_process(monkeypatch)
    with instance.db.reading() as s:
        again = warninglists.matcher(s)
        assert again is not first
        # The stored tables answer, with the entries they explain hits with.
        assert warninglists.check_values(s, ["8.8.8.8", "192.0.2.1"]) == {
            "8.8.8.8": first.hits("8.8.8.8", first.untyped("8.8.8.8"))
        }
        assert warninglists.warned(s, [("ip-dst", "8.8.8.8"), ("domain", "8.8.8.8")]) == [
            True,
            False,
        ]
    assert _hit_names(instance, MARKER) == {RESOLVERS}  # the marked copy was read back


def test_enabling_or_disabling_a_list_compiles_another(
    instance: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _set(instance, [RESOLVERS], True)
    with instance.db.reading() as s:
        warninglists.matcher(s)
    [resolvers_only] = _stored()
    _mark(resolvers_only)
    _set(instance, [EMPTY_HASHES], True)
    _next_process(monkeypatch)
    assert _hit_names(instance, EMPTY_MD5) == {EMPTY_HASHES}
    assert _hit_names(instance, MARKER) == set()  # compiled afresh, not the marked copy
    [both] = _stored()  # the other choice's copy is gone
    assert both != resolvers_only
    _set(instance, [EMPTY_HASHES], False)
    _next_process(monkeypatch)
    assert _hit_names(instance, EMPTY_MD5) == set()
    assert _hit_names(instance, "8.8.8.8") == {RESOLVERS}
    _set(instance, [RESOLVERS], False)
    assert _hit_names(instance, "8.8.8.8") == set()


def test_a_new_version_of_a_list_compiles_another(
    instance: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _set(instance, [RESOLVERS], True)
    with instance.db.reading() as s:
        warninglists.matcher(s)
    [before] = _stored()
    _mark(before)
    with instance.db.writing() as s:
        s.execute(
            sa.update(Warninglist)
            .where(Warninglist.name == RESOLVERS)
            .values(version=Warninglist.version + 1)
        )
    _next_process(monkeypatch)
    assert _hit_names(instance, MARKER) == set()
    assert _hit_names(instance, "8.8.8.8") == {RESOLVERS}
    [after] = _stored()
    assert after != before


@pytest.mark.parametrize("damage", ["garbage", "cut short", "another choice of lists"])
def test_a_copy_that_cannot_be_used_is_compiled_again(
    instance: Any, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    _set(instance, [RESOLVERS], True)
    with instance.db.reading() as s:
        warninglists.matcher(s)
    [path] = _stored()
    whole = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"\x00not a matcher")
    elif damage == "cut short":
        path.write_bytes(whole[: len(whole) // 2])
    else:
        stored = marshal.loads(whole)
        stored["key"] = ((0, "some other list", 1),)
        stored["tables"]["names"][MARKER] = (1, 0)
        path.write_bytes(marshal.dumps(stored))
    _next_process(monkeypatch)
    assert _hit_names(instance, "8.8.8.8") == {RESOLVERS}
    assert _hit_names(instance, MARKER) == set()
    # Replaced by a whole copy for this choice of lists.
    assert marshal.loads(path.read_bytes())["key"] == marshal.loads(whole)["key"]
