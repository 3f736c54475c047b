"""One package as a build plans it: what the writer, the preview and the release notes use."""

from __future__ import annotations

from dataclasses import dataclass

from .lock import Lock, Release
from .model import DeckSpec
from .notetypes import NoteType
from .package import PackageContent
from .render import RenderedCard


@dataclass(frozen=True)
class DeckPlan:
    """One package, validated and ready to write."""

    spec: DeckSpec
    content: PackageContent
    cards: tuple[RenderedCard, ...]
    card_count: int
    release: Release
    lock: Lock
    note_types: tuple[NoteType, ...]
    draft: bool = False
    """True when the cards differ from the lock's last release and this build does not release them."""

    @property
    def label(self) -> str:
        """What the package is: "release 2", "draft (after release 1)", "draft (no release yet)"."""
        return release_label(self.release.number, self.draft)


def release_label(number: int, draft: bool) -> str:
    if not draft:
        return f"release {number}"
    return f"draft (after release {number - 1})" if number > 1 else "draft (no release yet)"
