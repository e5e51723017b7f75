"""MISP's reports calls."""

from __future__ import annotations

from shieldwall.misp.common import misp_router

router = misp_router()
