"""Process-wide settings of the Python runtime.

Shieldwall's bulk paths (an event of tens of thousands of attributes, an import, an event
view) allocate hundreds of thousands of short-lived objects; with CPython's default
thresholds the cyclic garbage collector runs every 700 allocations and its full passes walk
every live object, again and again, while refcounting frees almost all of them anyway.
Collecting less often keeps the same memory bound (garbage with cycles is still collected)
at a fraction of the cost."""

from __future__ import annotations

import gc

GEN0_THRESHOLD = 50_000


def tune_gc() -> None:
    """Raise the collector's first-generation threshold; idempotent."""
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, max(gen1, 20), max(gen2, 20))
