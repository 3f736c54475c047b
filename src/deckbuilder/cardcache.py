"""Whole cards kept between builds: a card whose texts an earlier build rendered is not rendered
or scanned again.

What a build rendered of a card file is kept in one entry, found by the file's path (with the
project's folder): for each card, a digest of its five texts, and for each field its HTML, what
the build's per-field checks found in it (script, unbalanced tags, cloze markup outside code,
genanki's invalid-tag rule) and the lock's digest of it. Each of these is a function of the
card's five texts alone, given the render cache's fingerprint (library versions, Markdown
settings, deckbuilder's code): a card is taken from the entry only when its texts have the digest
the entry gives, so a changed card is rendered by itself and the file's other cards are not. A
card with an image is never kept, since its HTML depends on image files, which are resolved on
every build. Rendering a card without images finds no problems, so a card taken from here leaves
the build's diagnostics as they were.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import operator
from collections.abc import Callable, Container, Iterable, Mapping
from typing import NamedTuple, TypeVar

from .activecontent import scripts_in
from .lock import digest
from .model import Card
from .notecheck import cloze_outside_code, first_unbalanced
from .package import odd_html_tags
from .render import TEXT_FIELDS, RenderedCard, has_images
from .rendercache import RenderCache, entry_list

_KIND = "card-file-html"
_V = TypeVar("_V")


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
_something: Callable[[Findings], bool] = functools.partial(operator.is_not, NOTHING)
"""Whether findings are not NOTHING (`findings` gives that one for a field with none)."""


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
        self.card_files: dict[str, tuple[str, list[str]]] = {}
        """What the card cache learnt of each card file (by path): the digest of the bytes its
        cards were loaded from ("" if not known), and each card's digest, "" for a card with an
        image (the only cards whose HTML is not a function of their texts)."""

    def learn_simple(self, htmls: Iterable[str]) -> None:
        """Learn the findings of HTML quick_html wrote, without scanning it: its tags are plain
        formatting elements' and links to web pages, each closed where it opens (quickhtml.py),
        so a field's findings can only be cloze markup, and only where "{{c" is."""
        self._known.update(dict.fromkeys([html for html in htmls if "{{c" not in html], NOTHING))

    def found_any(self, rendered: RenderedCard) -> bool:
        """Whether any field of the card has a finding."""
        return any(map(_something, map(self.of, rendered.fields.values())))


_texts = operator.attrgetter(*TEXT_FIELDS)
_fields = operator.itemgetter(*TEXT_FIELDS)
_ID = operator.attrgetter("id")


class CardCache:
    """Rendered cards of earlier builds, one entry per card file; no cache means every card is a miss."""

    def __init__(self, cache: RenderCache | None, checks: FieldChecks, root: str = "") -> None:
        """`root`: the project's folder, which with a card file's path names its entry."""
        self._cache = cache
        self._checks = checks
        self._root = root
        self._digests: dict[str, list[str]] = {}
        """Each card file's cards' digests ("" for a card with an image)."""
        self._same: set[str] = set()
        """Card files whose entry holds these very cards: nothing to write."""
        self._stamps: dict[str, str] = {}
        """The digest of each card file's bytes its cards come from (see lookup), kept in its entry."""

    @staticmethod
    def source(card: Card) -> str | None:
        """The text an entry is keyed by (the five texts, unambiguously), or None for a card
        with an image, which is never kept."""
        a, b, c, d, e = _texts(card)  # (a build makes 50,000 of these: one f-string each)
        source = f"{len(a)},{len(b)},{len(c)},{len(d)},{len(e)}\0{a}{b}{c}{d}{e}"
        # Any text's image is in the joined texts (which may make one up across two: a miss, never a hit).
        return None if has_images(source) else source

    def lookup(
        self, card_files: Mapping[str, tuple[Card, ...]], stamps: Mapping[str, str] | None = None
    ) -> dict[str, dict[int, dict[str, str]]]:
        """The fields' HTML of each card (by card file, then index) an entry holds; their
        findings and digests are learnt.

        `stamps`: a digest of the bytes each card file's cards were loaded from
        (Project.card_file_digests). An entry made from the same bytes holds the digests of
        these very cards: they are not worked out again, but for its cards it did not keep."""
        if self._cache is None:
            return {}
        stamps = stamps or {}
        hits: dict[str, dict[int, dict[str, str]]] = {}
        for rel, cards in card_files.items():
            if not cards:
                continue
            stamp = self._stamps[rel] = stamps.get(rel, "")
            name = self._name(rel)
            value = self._cache.lookup([name], _KIND).get(name)  # one file at a time: not all held
            entry = _decode(value) if value is not None else None
            if entry is not None and stamp and entry[4] == stamp and len(entry[0]) == len(cards):
                digests = list(entry[0])
                for index in [index for index, d in enumerate(digests) if not d]:
                    digests[index] = _digest(self.source(cards[index]))
                if len(entry[5]) == len(cards):  # the lock's digests of these cards' ids
                    self._checks._digests.update(zip(map(_ID, cards), entry[5], strict=True))
            else:
                digests = [_digest(self.source(card)) for card in cards]
            self._digests[rel] = digests
            self._checks.card_files[rel] = (stamp, digests)
            if entry is not None:
                hits[rel] = self._hits(digests, *entry[:4])
                if entry[0] == digests:
                    self._same.add(rel)
        return hits

    def _hits(
        self,
        digests: list[str],
        theirs: list[str],
        htmls: list[str],
        lock: list[str],
        found: dict[int, Findings],
    ) -> dict[int, dict[str, str]]:
        known, lock_digests = self._checks._known, self._checks._digests
        if theirs == digests:  # the file as it was: learn everything at once
            kept = [index for index, d in enumerate(digests) if d]
            lock_digests.update(zip(htmls, lock, strict=True))
            known.update(dict.fromkeys(htmls, NOTHING))
            known.update((htmls[at], f) for at, f in found.items())
            cards = zip(*[iter(htmls)] * _N, strict=True)  # each card's fields, one after the other
            return dict(zip(kept, map(dict, map(zip, itertools.repeat(TEXT_FIELDS), cards)), strict=True))
        where = {d: n for n, d in enumerate(d for d in theirs if d)}
        hits = {}
        for index, d in enumerate(digests):
            n = where.get(d) if d else None
            if n is None:
                continue
            fields = htmls[_N * n : _N * n + _N]
            lock_digests.update(zip(fields, lock[_N * n : _N * n + _N], strict=True))
            for at, html in enumerate(fields, _N * n):
                known[html] = found.get(at, NOTHING)
            hits[index] = dict(zip(TEXT_FIELDS, fields, strict=True))
        return hits

    def keep(self, rel: str, rendered: tuple[RenderedCard, ...], failed: Container[int]) -> None:
        """Store a card file's cards but the `failed` ones (by index: they had problems when
        rendered, which are found afresh); nothing is written for a file as it was."""
        if self._cache is None or rel in self._same:
            return
        theirs = self._digests.get(rel)
        if theirs is None or len(theirs) != len(rendered):
            return
        digests: list[str] = []
        htmls: list[str] = []
        for index, (d, rc) in enumerate(zip(theirs, rendered, strict=True)):
            keep = bool(d) and not rc.media and index not in failed
            digests.append(d if keep else "")
            if keep:
                htmls += _fields(rc.fields)
        # (`findings` and the cache's entries give NOTHING itself for a field without findings.)
        found = {str(at): list(f) for at, f in enumerate(map(self._checks.of, htmls)) if f is not NOTHING}
        lock = list(map(self._checks.digest, htmls))
        stamp = self._stamps.get(rel, "")
        ids = [self._checks.digest(rc.card.id) for rc in rendered]  # (worked out once: the plan's too)
        entry = [digests, htmls, lock, found, stamp, ids]
        self._cache.store({self._name(rel): json.dumps(entry, ensure_ascii=False)}, _KIND)

    def _name(self, rel: str) -> str:
        return f"{self._root}\0{rel}"


_N = len(TEXT_FIELDS)


def _digest(source: str | None) -> str:
    """A card's digest in an entry ("" for a card that is never kept)."""
    if source is None:
        return ""
    return hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _decode(
    value: str,
) -> tuple[list[str], list[str], list[str], dict[int, Findings], str, list[str]] | None:
    """What `keep` wrote (each card's digest, each kept card's fields' HTML and their digests,
    the findings that are not NOTHING by field, the digest of the card file's bytes or "", the
    lock's digest of each card's id), or None for anything else."""
    entry = entry_list(value, 6)
    if entry is None:
        return None
    digests, htmls, lock, sparse, stamp, ids = entry
    if not (
        type(digests) is type(htmls) is type(lock) is list and type(sparse) is dict and type(stamp) is str
    ):
        return None
    if type(ids) is not list or not _strings(ids):
        return None
    kept = len(digests) - digests.count("")
    if len(htmls) != _N * kept or len(lock) != len(htmls) or not _strings(digests, htmls, lock):
        return None
    found = {}
    for at, row in sparse.items():
        if not at.isdigit() or int(at) >= len(htmls) or type(row) is not list or len(row) != len(NOTHING):
            return None
        scripts, unbalanced, cloze, odd_tags = row
        if not (type(scripts) is type(unbalanced) is type(odd_tags) is str and type(cloze) is bool):
            return None
        found[int(at)] = Findings(scripts, unbalanced, cloze, odd_tags)
    return digests, htmls, lock, found, stamp, ids


def _strings(*lists: list[object]) -> bool:
    return all(set(map(type, values)) <= {str} for values in lists)
