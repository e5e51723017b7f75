"""YARA rules stored as `yara` attributes, bundled into one file that compiles: each
attribute's text is compiled alone first (one that does not compile is left out, with a
comment naming it), and a rule whose name an earlier attribute took is renamed, along with
the references to it in its own attribute."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

import yara

from shieldwall.detection.exports.indicators import Indicator

TYPES = frozenset({"yara"})

_RULE = re.compile(r"^(\s*(?:(?:private|global)\s+)*rule\s+)([A-Za-z_][A-Za-z0-9_]*)", re.M)
# Text where a rule name is no reference: strings, regular expressions, comments (YARA
# divides with a backslash, so a slash always starts one of these).
_OPAQUE = re.compile(r'"(?:\\.|[^"\\\n])*"|/\*.*?\*/|//[^\n]*|/(?:\\.|[^/\\\n])+/[is]*', re.S)


def _rename(text: str, renames: dict[str, str]) -> str:
    if not renames:
        return text
    word = re.compile(r"\b(" + "|".join(map(re.escape, renames)) + r")\b")
    out, last = [], 0
    for m in _OPAQUE.finditer(text):
        out.append(word.sub(lambda w: renames[w.group(1)], text[last : m.start()]))
        out.append(m.group(0))
        last = m.end()
    out.append(word.sub(lambda w: renames[w.group(1)], text[last:]))
    return "".join(out)


def bundle(batches: Iterable[list[Indicator]]) -> Iterator[bytes]:
    taken: set[str] = set()
    yield b"// YARA rules exported by Shieldwall\n"
    for batch in batches:
        parts = []
        for i in batch:
            text = i.value.strip()
            try:
                yara.compile(source=text)
            except yara.Error as exc:  # a syntax error, an unknown module or identifier
                reason = " ".join(str(exc).split())
                parts.append(f"// left out: attribute {i.uuid} (event {i.event_id}): {reason}\n")
                continue
            names = [m.group(2) for m in _RULE.finditer(text)]
            renames = {n: f"{n}_a{i.id}" for n in names if n in taken}
            taken.update(renames.get(n, n) for n in names)
            parts.append(
                f"// attribute {i.uuid}, event {i.event_uuid}\n{_rename(text, renames)}\n\n"
            )
        if parts:
            yield "".join(parts).encode()
