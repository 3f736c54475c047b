"""Whole cards kept between builds: a card whose texts an earlier build rendered is not rendered
or scanned again.

An entry holds, for each of a card's text fields, its HTML, what the build's per-field checks
found in it (script, unbalanced tags, cloze markup outside code, genanki's invalid-tag rule)
and the lock's digest of it. Each of these is a function of the card's five texts alone, given
the render cache's fingerprint (library versions, Markdown settings, deckbuilder's code): the
texts are the key. A card with an image is never kept, since its HTML depends on image files,
which are resolved on every build. Rendering a card without images finds no problems, so a
card taken from here leaves the build's diagnostics as they were.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from operator import attrgetter
from typing import NamedTuple, TypeVar

from .activecontent import scripts_in
from .lock import digest
from .model import Card
from .notecheck import cloze_outside_code, first_unbalanced
from .package import odd_html_tags
from .render import TEXT_FIELDS, RenderedCard, has_images
from .rendercache import RenderCache

_KIND = "card"
_V = TypeVar("_V")
_STORE_EVERY = 1000


class Findings(NamedTuple):
    """What the per-field checks found in one field's HTML (a tuple: a build makes 50,000)."""

    scripts: str
    """The script it carries, one description a line (activecontent.scripts_in)."""
    unbalanced: str
    """notecheck.first_unbalanced: what is unbalanced, or ""."""
    cloze: bool
    """Cloze markup outside code (an error on a card that is not a cloze card)."""
    odd_tags: str
    """Tags genanki takes for invalid HTML, separated by spaces, as a message names them."""


NOTHING = Findings("", "", False, "")
"""What almost every field's findings are."""


def findings(html: str) -> Findings:
    tagged = "<" in html
    found = Findings(
        scripts="\n".join(scripts_in(html)) if tagged else "",
        unbalanced=first_unbalanced(html),
        cloze=cloze_outside_code(html),
        odd_tags=" ".join(dict.fromkeys(odd_html_tags(html))) if tagged else "",
    )
    return NOTHING if found == NOTHING else found


class _Memo(dict[str, _V]):
    """A function's results by argument: a hit is a dict lookup, with no Python call."""

    def __init__(self, work: Callable[[str], _V]) -> None:
        super().__init__()
        self._work = work

    def __missing__(self, key: str) -> _V:
        value = self[key] = self._work(key)
        return value


class FieldChecks:
    """Findings and lock digests by field HTML: worked out once per build, or taken from the
    card entries."""

    def __init__(self) -> None:
        self._known = _Memo(findings)
        self._digests = _Memo(digest)
        self.of: Callable[[str], Findings] = self._known.__getitem__
        """The findings of a field's HTML."""
        self.digest: Callable[[str], str] = self._digests.__getitem__
        """The lock's digest of a note's part (a field's HTML, its tags, deck…)."""

    def found_any(self, rendered: RenderedCard) -> bool:
        """Whether any field of the card has a finding."""
        return any(self.of(html) != NOTHING for html in rendered.fields.values())


_texts = attrgetter(*TEXT_FIELDS)


class CardCache:
    """Rendered cards of earlier builds, by their texts; no cache means every card is a miss."""

    def __init__(self, cache: RenderCache | None, checks: FieldChecks) -> None:
        self._cache = cache
        self._checks = checks
        self._fresh: dict[str, str] = {}

    @staticmethod
    def source(card: Card) -> str | None:
        """The text an entry is keyed by (the five texts, unambiguously), or None for a card
        with an image, which is never kept."""
        texts: tuple[str, ...] = _texts(card)
        joined = "".join(texts)
        # Any text's image is in the joined texts (which may make one up across two: a miss, never a hit).
        if has_images(joined):
            return None
        return ",".join([str(len(t)) for t in texts]) + "\0" + joined

    def lookup(self, sources: list[str | None]) -> dict[int, dict[str, str]]:
        """The fields' HTML of each card (by index) an entry holds; their findings are learnt."""
        if self._cache is None:
            return {}
        hits: dict[int, dict[str, str]] = {}
        known, digests = self._checks._known, self._checks._digests
        for start in range(0, len(sources), _STORE_EVERY):  # the entries' text read a batch at a time
            batch = sources[start : start + _STORE_EVERY]
            kept = self._cache.lookup([s for s in batch if s is not None], _KIND)
            for index, source in enumerate(batch, start):
                value = kept.get(source) if source is not None else None
                entry = _decode(value) if value is not None else None
                if entry is None:
                    continue
                htmls, their_digests, found = entry
                digests.update(zip(htmls, their_digests, strict=True))
                for i, html in enumerate(htmls):
                    known[html] = found.get(i, NOTHING)
                hits[index] = dict(zip(TEXT_FIELDS, htmls, strict=True))
        return hits

    def keep(self, source: str, rendered: RenderedCard) -> None:
        """Store a card rendered afresh (the source of a card without images)."""
        if self._cache is None or rendered.media:
            return
        htmls = [rendered.fields[name] for name in TEXT_FIELDS]
        found = {str(i): list(f) for i, f in enumerate(map(self._checks.of, htmls)) if f != NOTHING}
        digests = [self._checks.digest(html) for html in htmls]
        self._fresh[source] = json.dumps([*htmls, *digests, found], ensure_ascii=False)
        if len(self._fresh) >= _STORE_EVERY:  # handed on (and written) in batches, not held
            self.store()

    def store(self) -> None:
        if self._cache is not None:
            self._cache.store(self._fresh, _KIND)
            self._fresh = {}


_N = len(TEXT_FIELDS)


def _decode(value: str) -> tuple[list[str], list[str], dict[int, Findings]] | None:
    """What `keep` wrote (each field's HTML, each one's digest, the findings that are not
    NOTHING by field), or None for anything else."""
    try:
        entry = json.loads(value)
    except ValueError:
        return None
    if type(entry) is not list or len(entry) != 2 * _N + 1 or not all(type(v) is str for v in entry[:-1]):
        return None
    sparse = entry[-1]
    if type(sparse) is not dict:
        return None
    found = {}
    for index, row in sparse.items():
        if index not in _INDEXES or type(row) is not list or len(row) != len(NOTHING):
            return None
        scripts, unbalanced, cloze, odd_tags = row
        if not (type(scripts) is type(unbalanced) is type(odd_tags) is str and type(cloze) is bool):
            return None
        found[int(index)] = Findings(scripts, unbalanced, cloze, odd_tags)
    return entry[:_N], entry[_N:-1], found


_INDEXES = {str(i) for i in range(_N)}
