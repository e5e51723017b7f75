"""MISP-compatible HTTP API: MISP's paths and JSON shapes over the same domain services."""
