"""TAXII collections in the native API: site admins create, change and delete them (audited);
every caller lists the collections their organisation may read or write."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from shieldwall.api.deps import CurrentCtx, ReadDB, WriteDB
from shieldwall.taxii import collections as taxii
from shieldwall.taxii.collections import CollectionIn, CollectionUpdate, collection_out

router = APIRouter(prefix="/taxii/collections", tags=["taxii"])


@router.get("")
def list_collections(ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    return {"items": [collection_out(a) for a in taxii.list_collections(db, ctx)]}


@router.post("", status_code=201)
def create_collection(data: CollectionIn, ctx: CurrentCtx, db: WriteDB) -> dict[str, Any]:
    coll = taxii.create_collection(db, ctx, data)
    out = collection_out(taxii.get_collection(db, ctx, coll.id))
    db.commit()
    return out


@router.get("/{ref}")
def get_collection(ref: str, ctx: CurrentCtx, db: ReadDB) -> dict[str, Any]:
    return collection_out(taxii.get_collection(db, ctx, ref))


@router.patch("/{ref}")
def update_collection(
    ref: str, data: CollectionUpdate, ctx: CurrentCtx, db: WriteDB
) -> dict[str, Any]:
    coll = taxii.update_collection(db, ctx, ref, data)
    out = collection_out(taxii.get_collection(db, ctx, coll.id))
    db.commit()
    return out


@router.delete("/{ref}", status_code=204)
def delete_collection(ref: str, ctx: CurrentCtx, db: WriteDB) -> Response:
    taxii.delete_collection(db, ctx, ref)
    db.commit()
    return Response(status_code=204)
