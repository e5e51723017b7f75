"""The runtime tuning applied by the server and the CLI."""

from __future__ import annotations

import gc

from shieldwall.runtime import GEN0_THRESHOLD, tune_gc


def test_tune_gc_raises_the_first_generation_threshold_and_keeps_collecting() -> None:
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        tune_gc()
        tune_gc()
        assert gc.get_threshold() == (GEN0_THRESHOLD, 20, 20)
        assert gc.isenabled()

        class Node:
            def __init__(self) -> None:
                self.me = self

        import weakref

        ref = weakref.ref(Node())
        gc.collect()
        assert ref() is None  # cycles are still collected
    finally:
        gc.set_threshold(*before)
