"""The cyclic garbage collector, paused where Python makes many objects and next to no garbage.

The program (`build-deck`) turns it off before its imports and leaves it off: each of its
commands but `serve` makes its objects, writes its files and exits. Turning it on after the
imports or after a build would cost a pass over every object they made, at the next
allocation, for next to no garbage (about 1 % of a build of 5,000 cards, measured in
instructions). `serve` runs for hours and turns it on (`resume`); code that imports deckbuilder
keeps its collector, paused only inside a build."""

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


_paused_program = False


def pause_program() -> None:
    """Off for the rest of the program, unless a command resumes it (see above)."""
    global _paused_program
    _paused_program = True
    gc.disable()


def resume() -> None:
    """On again, if pause_program turned it off, for a command that runs on. Everything alive now
    (the program's modules, and what its imports left) is set apart, so that no pass visits it
    again (gc.freeze): it lives as long as the program. Code that imports deckbuilder and runs
    a command keeps its collector as it is."""
    global _paused_program
    if _paused_program:
        _paused_program = False
        gc.freeze()
        gc.enable()
