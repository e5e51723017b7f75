"""MISP's decaying-model parameters of restSearch (includeDecayScore, excludeDecayed,
decayingModel, modelOverrides, score) over Shieldwall's indicator lifecycle, which MISP
clients see as one decaying model covering every attribute type."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from fastapi import Request
from sqlalchemy.orm import Session

from shieldwall.api.deps import CurrentCtx, ReadDB
from shieldwall.auth.permissions import Permission
from shieldwall.auth.service import require
from shieldwall.context import Ctx
from shieldwall.intel.errors import InvalidInput, NotFound
from shieldwall.intel.models import Attribute
from shieldwall.intel.types import type_table
from shieldwall.lifecycle import service as lifecycle
from shieldwall.lifecycle.score import Parameters, Score, observed
from shieldwall.misp.common import as_list, flag, misp_error, misp_ok, misp_router

MODEL_ID = "1"
MODEL_NAME = "Shieldwall lifecycle"

# modelOverrides names MISP accepts: the Shieldwall parameter each one sets, and its range
# (lifetime and decay_speed above 0, threshold from 0).
_OVERRIDES = {
    "lifetime": ("lifetime_days", 36500.0),
    "decay_speed": ("decay_speed", 100.0),
    "threshold": ("threshold", 100.0),
}


@dataclass(frozen=True)
class DecayRequest:
    exclude_decayed: bool
    full_model: bool
    overrides: lifecycle.Overrides | None


def _number(value: Any, field: str, high: float, *, zero: bool) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    low_ok = number >= 0 if zero else number > 0
    if isinstance(value, bool) or not (low_ok and number <= high):
        lowest = "from 0" if zero else "above 0"
        raise InvalidInput(f"{field} is a number {lowest} up to {high:g}", field=field)
    return number


def _overrides(q: dict[str, Any]) -> lifecycle.Overrides | None:
    raw = q.get("modelOverrides")
    values: dict[str, float] = {}
    if raw not in (None, "", [], {}):
        if isinstance(raw, str):
            try:
                raw = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raw = None
        if not isinstance(raw, dict):
            raise InvalidInput(
                "modelOverrides is an object of lifetime, decay_speed and threshold",
                field="modelOverrides",
            )
        for name, value in raw.items():
            if name not in _OVERRIDES:
                raise InvalidInput(
                    f"modelOverrides.{name} cannot be overridden; use lifetime, decay_speed "
                    "or threshold",
                    field=f"modelOverrides.{name}",
                )
            target, high = _OVERRIDES[name]
            values[target] = _number(
                value, f"modelOverrides.{name}", high, zero=target == "threshold"
            )
    if q.get("score") not in (None, ""):
        values["threshold"] = _number(q.get("score"), "score", 100.0, zero=True)  # MISP's alias
    return lifecycle.Overrides(**values) if values else None


def decay_request(q: dict[str, Any], *, attributes: bool) -> DecayRequest | None:
    """The decay parameters of a restSearch; None when no score is asked for. decayingModel,
    modelOverrides and score only shape a score, so without includeDecayScore or
    excludeDecayed they are refused rather than ignored."""
    include = bool(flag(q.get("includeDecayScore")))
    exclude = bool(flag(q.get("excludeDecayed")))
    if exclude and not attributes:
        raise InvalidInput(
            "excludeDecayed applies to attributes/restSearch, as in MISP", field="excludeDecayed"
        )
    for model in as_list(q.get("decayingModel")):
        if model.strip() != MODEL_ID:
            raise InvalidInput(
                f"decaying model {model!r} does not exist; Shieldwall has one, id {MODEL_ID}",
                field="decayingModel",
            )
    overrides = _overrides(q)
    if not (include or exclude):
        for name in ("decayingModel", "modelOverrides", "score"):
            if q.get(name) not in (None, "", [], {}, 0, "0"):
                raise InvalidInput(
                    f"{name} applies with includeDecayScore or excludeDecayed", field=name
                )
        return None
    return DecayRequest(exclude, bool(flag(q.get("includeFullModel"))), overrides)


def _model(params: Parameters, full: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"id": MODEL_ID, "name": MODEL_NAME}
    if full:
        out.update(
            {
                "description": "Shieldwall's indicator lifecycle: MISP's polynomial model "
                "with per-type settings",
                "formula": "Polynomial",
                "enabled": True,
                "parameters": {
                    "lifetime": params.lifetime_days,
                    "decay_speed": params.decay_speed,
                    "threshold": params.threshold,
                    "default_base_score": params.default_base_score,
                    "base_score_config": {},
                },
            }
        )
    return out


def _entry(score: Score, params: Parameters, full: bool) -> dict[str, Any]:
    return {
        "score": score.score,
        "base_score": score.base_score,
        "decayed": score.decayed,
        "DecayingModel": _model(params, full),
    }


def _facts_of_dict(a: dict[str, Any]) -> lifecycle.Facts:
    stamp = datetime.fromisoformat(a["timestamp"])
    last_seen = datetime.fromisoformat(a["last_seen"]) if a.get("last_seen") else None
    return lifecycle.Facts(int(a["id"]), int(a["event_id"]), a["type"], observed(stamp, last_seen))


def decay_scores(
    session: Session,
    ctx: Ctx,
    req: DecayRequest,
    attrs: list[Attribute] | list[dict[str, Any]],
) -> dict[int, dict[str, Any]]:
    """MISP's decay_score entry of each attribute (ORM objects or native dicts), by id."""
    items = [lifecycle.facts(a) if isinstance(a, Attribute) else _facts_of_dict(a) for a in attrs]
    found = lifecycle.scores(session, ctx, items, overrides=req.overrides)
    return {i: _entry(score, params, req.full_model) for i, (score, params) in found.items()}


def attach_to_event(
    session: Session, ctx: Ctx, req: DecayRequest, detail: dict[str, Any], shaped: dict[str, Any]
) -> None:
    """decay_score on every attribute of a shaped event, objects' attributes included."""
    attrs = detail["attributes"] + [a for o in detail["objects"] for a in o["attributes"]]
    entries = decay_scores(session, ctx, req, attrs)
    for a in shaped.get("Attribute", []) + [
        a for o in shaped.get("Object", []) for a in o.get("Attribute", [])
    ]:
        if int(a["id"]) in entries:
            a["decay_score"] = [entries[int(a["id"])]]


# ---------------------------------------------------------------- decayingModel/* paths

router = misp_router()

MODEL_UUID = str(uuid.uuid5(uuid.NAMESPACE_URL, "shieldwall:decaying-model:lifecycle"))


def _model_shape(session: Session, ctx: Ctx) -> dict[str, Any]:
    """The one decaying model MISP clients see: the lifecycle's default parameters; the
    attribute types it covers are every type (per-type settings refine it)."""
    params = lifecycle.load(session).default
    shaped = _model(params, full=True)
    shaped.update(
        {
            "uuid": MODEL_UUID,
            "org_id": str(ctx.org_id),
            "all_orgs": True,
            "ref": [],
            "attribute_types": sorted(type_table().types),
            "version": "1",
            "default": True,
            "isEditable": False,
        }
    )
    return {"DecayingModel": shaped}


def _check_model(ref: str) -> None:
    if ref.strip() != MODEL_ID:
        raise NotFound(f"decaying model {ref!r} does not exist; Shieldwall has one, id {MODEL_ID}")


@router.get("/decayingModel/index")
@router.get("/decayingModel/index.json")
def decaying_model_index(ctx: CurrentCtx, db: ReadDB) -> list[dict[str, Any]]:
    return [_model_shape(db, ctx)]


@router.get("/decayingModel/view/{ref}")
@router.get("/decayingModel/view/{ref}.json")
def decaying_model_view(ref: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    _check_model(ref)
    return _model_shape(db, ctx)


@router.post("/decayingModel/update")
def decaying_model_update(request: Request, ctx: CurrentCtx) -> dict[str, Any]:
    """MISP loads its default models from disk; Shieldwall's model is built in, with per-type
    settings in the lifecycle (PATCH /api/v1/lifecycle/settings)."""
    require(ctx, Permission.SITE_ADMIN)
    return misp_ok(
        "Decaying models are up to date (Shieldwall's lifecycle model is built in)",
        request.url.path,
    )


@router.post("/decayingModel/enable/{ref}")
def decaying_model_enable(request: Request, ref: str, ctx: CurrentCtx) -> dict[str, Any]:
    require(ctx, Permission.SITE_ADMIN)
    _check_model(ref)
    return misp_ok("Decaying model enabled", request.url.path, id=MODEL_ID)


@router.post("/decayingModel/disable/{ref}")
def decaying_model_disable(request: Request, ref: str, ctx: CurrentCtx) -> Any:
    require(ctx, Permission.SITE_ADMIN)
    _check_model(ref)
    return misp_error(
        403,
        "The lifecycle model cannot be disabled: expired indicators already leave exports only "
        "when the lifecycle marks them; change lifetimes per type in the lifecycle settings",
        request.url.path,
    )
