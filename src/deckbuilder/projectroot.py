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


def deck_names(root: Path) -> list[str]:
    """What names a deck on the command line (file stems, and the names in the files) for shell
    completion: read cheaply, never failing; a file that does not read gives its stem only."""
    import yaml  # only completion pays for it

    names: list[str] = []
    decks = root / "decks"
    for path in sorted(decks.glob("*.y*ml")) if decks.is_dir() else []:
        names.append(path.stem)
        try:
            with path.open(encoding="utf-8") as f:
                data = yaml.safe_load(f.read(1 << 16))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        name = data.get("name") if isinstance(data, dict) else None
        if isinstance(name, str) and name != path.stem:
            names.append(name)
    return names
