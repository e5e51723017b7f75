"""Correlations in the native API: an event's or an attribute's correlations (with related
events and their graph), and correlation exclusions (site admins)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from shieldwall.api.deps import CurrentCtx, ReadDB, WriteDB
from shieldwall.api.responses import OrjsonResponse
from shieldwall.correlation import service
from shieldwall.text import Text

router = APIRouter(tags=["correlation"])


# Answers of thousands of correlations are rendered by orjson as they are, without FastAPI
# walking them first (a fifth of the request's time on a 1,000-attribute event).


@router.get("/events/{ref}/correlations", response_model=None)
def event_correlations(ref: str, ctx: CurrentCtx, db: ReadDB) -> OrjsonResponse:
    """Where the event's values appear elsewhere: each correlation (exact, cidr, ssdeep),
    the related events ranked by shared values, over-correlating values and the graph."""
    return OrjsonResponse(service.event_correlations(db, ctx, ref))


@router.get("/attributes/{ref}/correlations", response_model=None)
def attribute_correlations(ref: str, ctx: CurrentCtx, db: ReadDB) -> OrjsonResponse:
    return OrjsonResponse(service.attribute_correlations(db, ctx, ref))


class ExclusionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: Text = Field(min_length=1, max_length=1024)
    comment: Text = ""


@router.get("/correlation-exclusions")
def list_exclusions(ctx: CurrentCtx, db: ReadDB) -> list[dict[str, Any]]:
    return service.list_exclusions(db, ctx)


@router.post("/correlation-exclusions", status_code=201)
def add_exclusion(body: ExclusionIn, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    out = service.add_exclusion(db, ctx, body.value, body.comment)
    db.commit()
    return out


@router.get("/correlation-exclusions/{ref}")
def get_exclusion(ref: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    return service.get_exclusion(db, ctx, ref)


@router.delete("/correlation-exclusions/{ref}", status_code=204)
def delete_exclusion(ref: str, ctx: CurrentCtx, db: WriteDB) -> Response:
    service.delete_exclusion(db, ctx, ref)
    db.commit()
    return Response(status_code=204)
