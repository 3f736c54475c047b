"""Rubric checks a program can see (after Wozniak's twenty rules): warnings, never errors."""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator

from .model import Diagnostic, LintLimits, Location
from .render import RenderedCard
from .rendercache import RenderCache

_BLOCK_TAG = re.compile(r"</?(?:p|div|li|br|hr|tr|td|th|h\d|ul|ol|table|blockquote)\b[^>]*>")
_TAG = re.compile(r"<[^>]+>")
_CODE_BLOCK = re.compile(r"<pre\b.*?</pre>", re.DOTALL)
_LIST = re.compile(r"<(ul|ol)\b[^>]*>(.*?)</\1>", re.DOTALL)
_CLOZE = re.compile(r"\{\{c(\d+)::(.*?)(?:::[^}]*)?\}\}", re.DOTALL)
_IMG_SRC = re.compile(r"""<img\b[^>]*?\ssrc\s*=\s*(["']?)([^"'\s>]+)\1""", re.IGNORECASE)
# Quoted words (“What next?”) and code are quoted, not asked.
_QUOTED = re.compile(r"“[^”]*”|\"[^\"]*\"|<code\b.*?</code>", re.DOTALL)
_WH = r"(?:what|why|how|which|where|when|who|whose)"
# "what … and why …": a second question word right after "and" (noun phrases like "X and Y" pass).
_TWO_ASKS = re.compile(
    rf"\b{_WH}\b.*?\band\s+(?:(?:with|for|in|on|at|by|from|to|of)\s+)?{_WH}\b", re.IGNORECASE | re.DOTALL
)
# Words an answer may share with its question in a row before it is repeating the question.
_REPEATED_RUN = 5


def plain_text(fragment: str) -> str:
    """Visible words of an HTML fragment (code blocks count as one word)."""
    if "<pre" in fragment:  # (the patterns' searches cost more than these tests)
        fragment = _without_code_blocks(fragment)
    if "<" in fragment:
        fragment = _TAG.sub("", _BLOCK_TAG.sub(" ", fragment))
    return " ".join(html.unescape(fragment).split())


def _without_code_blocks(fragment: str) -> str:
    """_CODE_BLOCK.sub(" code ", fragment) found with str.find (the pattern's lazy `.*?` steps
    through a block a character at a time): each `<pre` not followed by a word character, up to
    the first `</pre>` after it, becomes " code "."""
    parts: list[str] = []
    done = 0  # where the text not yet copied starts
    at = fragment.find("<pre")
    while at >= 0:
        after = at + 4
        if after < len(fragment) and (fragment[after].isalnum() or fragment[after] == "_"):
            at = fragment.find("<pre", at + 1)  # `<prefix`: no word boundary (\b) after `<pre`
            continue
        end = fragment.find("</pre>", after)
        if end < 0:
            break  # (nor after any later `<pre`)
        parts += (fragment[done:at], " code ")
        done = end + 6
        at = fragment.find("<pre", done)
    parts.append(fragment[done:])
    return "".join(parts)


def word_count(fragment: str) -> int:
    return len(plain_text(fragment).split())


def lint(
    cards: Iterable[RenderedCard], limits: LintLimits, cache: RenderCache | None = None, deck_path: str = ""
) -> list[Diagnostic]:
    """Rubric warnings of these cards. `cache`: what each card's own rules found in an earlier
    build, by everything they read (its fields' HTML, type and id, the limits); `deck_path` (the
    deck file, with the project's folder) names the entries."""
    cards = tuple(cards)
    warnings: list[Diagnostic] = []
    questions: dict[str, Location] = {}
    for rendered, (question, found) in zip(cards, _CachedRules(cache, cards, limits, deck_path), strict=True):
        card = rendered.card
        at = card.location
        for name, message, code in found:
            where = Location(at.path, card.field_lines.get(name, at.line))
            warnings.append(Diagnostic(where, message, warning=True, code=code))
        if question in questions:
            warnings.append(
                Diagnostic(
                    at,
                    f"card '{card.id}': same question as the card at {questions[question]}",
                    warning=True,
                    code="lint-same-question",
                )
            )
        else:
            questions[question] = at
        if limits.paper_tag in card.tags and not card.source.strip():
            warnings.append(
                Diagnostic(
                    at,
                    f"card '{card.id}': a '{limits.paper_tag}' card needs a 'source'",
                    warning=True,
                    code="lint-source",
                )
            )
    return sorted(warnings, key=lambda d: (d.location, d.message))


_Found = tuple[str, list[tuple[str, str, str]]]


class _CachedRules:
    """_card_rules of each card, from the render cache where an earlier build kept them.

    One entry per card file (found by its path and the deck's) holds a digest of what each card's
    rules read (its fields' HTML, type and id, the limits) and what they found: a card is taken
    from it only when its digest matches, so a changed card's rules run by themselves.
    """

    def __init__(
        self, cache: RenderCache | None, cards: tuple[RenderedCard, ...], limits: LintLimits, deck_path: str
    ) -> None:
        self._cache = cache
        self._cards = cards
        self._limits = limits
        self._digests: list[str] = []
        self._files: dict[str, list[int]] = {}
        """The indexes of each card file's cards, by its entry's name."""
        self._same: set[str] = set()
        """Entries that hold their file's cards as they are now: nothing to write."""
        self._kept: dict[int, _Found] = {}
        if cache is None:
            return
        head = f"{limits!r}\0"
        path = None
        indexes: list[int] = []
        for index, rendered in enumerate(cards):
            card, values = rendered.card, rendered.fields.values()
            lengths = ",".join(map(str, map(len, values)))
            key = f"{head}{card.type}\0{card.id}\0{lengths}\0{''.join(values)}"
            self._digests.append(hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32])
            if card.location.path != path:  # a card file's cards come one after the other
                path = card.location.path
                indexes = self._files.setdefault(f"{deck_path}\0{path}", [])
            indexes.append(index)
        kept = cache.lookup(self._files, _KIND)
        for name, indexes in self._files.items():
            entry = _decode(kept.get(name, ""))
            if entry is None:
                continue
            theirs, found = entry
            mine = [self._digests[index] for index in indexes]
            if theirs == mine:
                self._same.add(name)
                self._kept.update(zip(indexes, found, strict=True))
                continue
            by_digest = dict(zip(theirs, found, strict=True))
            self._kept.update(
                (index, by_digest[digest])
                for index, digest in zip(indexes, mine, strict=True)
                if digest in by_digest
            )

    def __iter__(self) -> Iterator[_Found]:
        results = []
        for index, rendered in enumerate(self._cards):
            found = self._kept.get(index)
            if found is None:
                found = _card_rules(rendered, self._limits)
            if self._cache is not None:
                results.append(found)
            yield found
        if self._cache is not None:
            entries = {}
            for name, indexes in self._files.items():
                if name not in self._same:
                    rows = [results[index] for index in indexes]
                    warned = {str(n): row[1] for n, row in enumerate(rows) if row[1]}
                    digests = [self._digests[index] for index in indexes]
                    entries[name] = json.dumps(
                        [digests, [row[0] for row in rows], warned], ensure_ascii=False
                    )
            self._cache.store(entries, _KIND)


_KIND = "lint-file"


def _decode(value: str) -> tuple[list[str], list[_Found]] | None:
    """What _CachedRules kept (each card's digest, each one's question key, the warnings of
    those with any by their place), or None for anything else."""
    try:
        digests, questions, warned = json.loads(value)
    except (ValueError, TypeError, RecursionError):
        return None
    if not (type(digests) is type(questions) is list and type(warned) is dict):
        return None
    if len(digests) != len(questions) or not set(map(type, digests)) | set(map(type, questions)) <= {str}:
        return None
    found: list[_Found] = [(question, []) for question in questions]
    for at, rows in warned.items():
        if not at.isdigit() or int(at) >= len(found) or type(rows) is not list:
            return None
        if not all(type(w) is list and len(w) == 3 and all(type(v) is str for v in w) for w in rows):
            return None
        found[int(at)] = (questions[int(at)], [(name, message, code) for name, message, code in rows])
    return digests, found


def _card_rules(rendered: RenderedCard, limits: LintLimits) -> _Found:
    """The rules of one card alone: its question's key, and (field, message, code) of each warning."""
    found: list[tuple[str, str, str]] = []

    def warn(name: str, message: str, *, code: str) -> None:
        found.append((name, message, code))

    card, f = rendered.card, rendered.fields
    answers = [("back", f["back"])]
    if card.type == "reversed":
        answers.append(("front", f["front"]))
    for name, answer in answers:
        words = word_count(answer)
        if words > limits.max_answer_words:
            warn(
                name,
                f"card '{card.id}': answer has {words} words (limit "
                f"{limits.max_answer_words}); move the explanation to 'extra'",
                code="lint-answer-words",
            )
    for name, answer in answers:
        for match in _LIST.finditer(answer):
            items = len(re.findall(r"<li\b", match.group(2)))
            if items > limits.max_list_items:
                warn(
                    name,
                    f"card '{card.id}': answer lists {items} items (limit "
                    f"{limits.max_list_items}); make a card per item or a cloze",
                    code="lint-list-items",
                )
    if card.type == "cloze":
        counts = Counter(n for n, _ in _CLOZE.findall(f["text"]))
        for number, count in sorted(counts.items(), key=lambda kv: int(kv[0])):
            if count > limits.max_deletions_per_card:
                warn(
                    "text",
                    f"card '{card.id}': cloze c{number} hides {count} deletions (limit "
                    f"{limits.max_deletions_per_card}); give each its own number",
                    code="lint-deletions",
                )
        for number, answer in _CLOZE.findall(f["text"]):
            words = word_count(answer)
            if words > limits.max_answer_words:
                warn(
                    "text",
                    f"card '{card.id}': cloze c{number} hides {words} words (limit "
                    f"{limits.max_answer_words})",
                    code="lint-answer-words",
                )
    if card.type == "cloze":
        numbers = {int(n) for n, _ in _CLOZE.findall(f["text"])}
        if len(numbers) > limits.max_deletions_per_note:
            warn(
                "text",
                f"card '{card.id}': {len(numbers)} cloze numbers on one note (limit "
                f"{limits.max_deletions_per_note}); split it into notes whose clozes overlap",
                code="lint-clozes-per-note",
            )
    else:
        asked = _asked(f["front"])
        if asked.count("?") > 1 or _TWO_ASKS.search(asked):
            warn(
                "front",
                f"card '{card.id}': the question asks two things; make a card for each",
                code="lint-two-questions",
            )
        body, said = _question_body(f["front"]), _normalise(f["back"]).split()
        run = _shared_run(body, said)
        if run >= _REPEATED_RUN or (said and said == body):
            warn(
                "back",
                f"card '{card.id}': the answer repeats its question ({run} words in a row); "
                "answer with what the question does not say",
                code="lint-repeats-question",
            )
    return _question_key(f["text"] if card.type == "cloze" else f["front"]), found


def _normalise(fragment: str) -> str:
    return re.sub(r"[^\w]+", " ", plain_text(fragment).lower()).strip()


def _question_key(fragment: str) -> str:
    """The words of a question and the images it shows: image-only questions differ by image."""
    images = " ".join(f"<img {m.group(2)}>" for m in _IMG_SRC.finditer(fragment))
    return f"{_normalise(fragment)} {images}".strip()


def _asked(front: str) -> str:
    """A question's visible text without quoted phrases and code."""
    fragment = _CODE_BLOCK.sub(" ", front)
    return _QUOTED.sub(" ", html.unescape(_TAG.sub("", _QUOTED.sub(" ", fragment))))


def _question_body(front: str) -> list[str]:
    """A question's words after its context prefix ("Paper (2016): …")."""
    text = plain_text(front)
    body = text.rsplit(": ", 1)[-1] if ": " in text else text
    return re.sub(r"[^\w]+", " ", body.lower()).split()


def _shared_run(question: list[str], answer: list[str]) -> int:
    """Length of the longest run of words the answer copies from the question."""
    best = 0
    previous = [0] * (len(answer) + 1)
    for q in question:
        current = [0] * (len(answer) + 1)
        for j, a in enumerate(answer, 1):
            if q == a:
                current[j] = previous[j - 1] + 1
                best = max(best, current[j])
        previous = current
    return best
