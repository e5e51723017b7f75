"""Indicator lifecycle: per-type lifetimes, scores that decay with age and sightings, expiry."""
