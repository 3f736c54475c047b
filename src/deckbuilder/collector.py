"""The cyclic garbage collector, paused where Python makes many objects and next to no garbage."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """No collection inside the block; the collector is on again after it if it was before.

    Imports make a few hundred thousand objects and no garbage, and a build millions of
    short-lived objects and few cycles: the collector's passes over them cost a tenth of a
    small build's start-up, and about a tenth of a build, and free next to nothing."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
