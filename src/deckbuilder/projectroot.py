"""Which folder is the project: the nearest one holding decks/, from here upward (as git does)."""

from __future__ import annotations

import os
from pathlib import Path


class NoProject(Exception):
    """No folder from here to the file system's root holds a decks/ folder."""


def find_root(start: Path) -> Path:
    """`start` or the nearest folder above it with a decks/ folder, as short as it can be shown."""
    here = start.resolve()
    for folder in (here, *here.parents):
        if (folder / "decks").is_dir():
            if folder == here:
                return start
            return Path(os.path.relpath(folder, Path.cwd()))
    raise NoProject(
        f"no deck project here: no decks/ folder in {start} or above it; start one with `build-deck init`"
    )
