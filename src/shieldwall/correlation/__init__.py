"""Correlation: which other attributes share a value with an attribute, contain it (CIDR), or
resemble it (ssdeep). Exact matches are found at read time through the attribute value
indexes; only IP ranges and ssdeep chunks keep an index of their own, one row (or a few
chunk rows) per attribute, never one per pair."""
