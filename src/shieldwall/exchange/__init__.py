"""Formats in and out: MISP JSON (events and feeds), later STIX, CSV and text."""
