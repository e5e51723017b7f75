"""Search terms of cases: the lower-cased words of the title (a word with dots, dashes or
underscores also by its parts, so `big-ws-03247` is found by `03247`) and `tag:<name>` for
each tag. A title search needs every word of the query to begin a term; a tag filter, its
term."""

from __future__ import annotations

import re
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shieldwall.response.models import TERM_LEN, Case, CaseTerm

_WORD = re.compile(r"[\w.\-]+", re.UNICODE)
_PARTS = re.compile(r"[.\-_]+")


def words(text: str) -> list[str]:
    """The words of a query, lower-cased, in order."""
    return [w.strip(".-_") for w in _WORD.findall(text.lower()) if w.strip(".-_")]


def title_terms(title: str) -> set[str]:
    out: set[str] = set()
    for word in words(title):
        out.add(word[:TERM_LEN])
        out.update(p[:TERM_LEN] for p in _PARTS.split(word) if p)
    return out


def tag_term(tag: str) -> str:
    return f"tag:{tag.strip().lower()}"[:TERM_LEN]


def terms_of(title: str, tags: Iterable[str]) -> set[str]:
    return title_terms(title) | {tag_term(t) for t in tags}


def index_case(session: Session, case: Case) -> None:
    """(Re)write a case's terms, in the caller's transaction."""
    wanted = terms_of(case.title, case.tags or [])
    have = set(
        session.execute(sa.select(CaseTerm.term).where(CaseTerm.case_id == case.id)).scalars()
    )
    gone = have - wanted
    if gone:
        session.execute(
            sa.delete(CaseTerm).where(CaseTerm.case_id == case.id, CaseTerm.term.in_(sorted(gone)))
        )
    new = wanted - have
    if new:
        session.execute(sa.insert(CaseTerm), [{"case_id": case.id, "term": t} for t in sorted(new)])


def _successor(prefix: str) -> str:
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def title_match(query: str) -> list[sa.ColumnElement[bool]]:
    """Conditions for a title search: each word of the query begins one of the case's
    terms (an index range each)."""
    conds: list[sa.ColumnElement[bool]] = []
    for word in words(query)[:8]:
        prefix = word[:TERM_LEN]
        conds.append(
            Case.id.in_(
                sa.select(CaseTerm.case_id).where(
                    CaseTerm.term >= prefix, CaseTerm.term < _successor(prefix)
                )
            )
        )
    return conds


def tag_match(tag: str) -> sa.ColumnElement[bool]:
    return Case.id.in_(sa.select(CaseTerm.case_id).where(CaseTerm.term == tag_term(tag)))
