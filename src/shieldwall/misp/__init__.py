"""MISP-compatible HTTP API: MISP's paths and JSON shapes over Shieldwall's services."""

from fastapi import APIRouter

from shieldwall.misp import (
    admin,
    attributes,
    correlation,
    decay,
    events,
    feeds,
    knowledge,
    objects,
    proposals,
    reports,
    routes,
    search,
    settings,
    sightings,
    stix,
    tags,
)

ROUTERS: tuple[APIRouter, ...] = (
    routes.router,
    events.router,
    attributes.router,
    objects.router,
    tags.router,
    sightings.router,
    search.router,
    admin.router,
    proposals.router,
    reports.router,
    feeds.router,
    knowledge.router,
    correlation.router,
    decay.router,
    settings.router,
    stix.router,
)
