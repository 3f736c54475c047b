"""Rubric checks a program can see (after Wozniak's twenty rules): warnings, never errors."""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Iterable

from .model import Diagnostic, LintLimits, Location
from .render import RenderedCard

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
    fragment = _CODE_BLOCK.sub(" code ", fragment)
    fragment = _TAG.sub("", _BLOCK_TAG.sub(" ", fragment))
    return " ".join(html.unescape(fragment).split())


def word_count(fragment: str) -> int:
    return len(plain_text(fragment).split())


def lint(cards: Iterable[RenderedCard], limits: LintLimits) -> list[Diagnostic]:
    warnings: list[Diagnostic] = []
    questions: dict[str, Location] = {}

    def warn(location: Location, message: str, *, code: str) -> None:
        warnings.append(Diagnostic(location, message, warning=True, code=code))

    for rendered in cards:
        card, f = rendered.card, rendered.fields
        at = card.location
        where = {k: Location(at.path, card.field_lines.get(k, at.line)) for k in f}
        answers = [("back", f["back"])]
        if card.type == "reversed":
            answers.append(("front", f["front"]))
        for name, answer in answers:
            words = word_count(answer)
            if words > limits.max_answer_words:
                warn(
                    where[name],
                    f"card '{card.id}': answer has {words} words (limit "
                    f"{limits.max_answer_words}); move the explanation to 'extra'",
                    code="lint-answer-words",
                )
        for name, answer in answers:
            for match in _LIST.finditer(answer):
                items = len(re.findall(r"<li\b", match.group(2)))
                if items > limits.max_list_items:
                    warn(
                        where[name],
                        f"card '{card.id}': answer lists {items} items (limit "
                        f"{limits.max_list_items}); make a card per item or a cloze",
                        code="lint-list-items",
                    )
        if card.type == "cloze":
            counts = Counter(n for n, _ in _CLOZE.findall(f["text"]))
            for number, count in sorted(counts.items(), key=lambda kv: int(kv[0])):
                if count > limits.max_deletions_per_card:
                    warn(
                        where["text"],
                        f"card '{card.id}': cloze c{number} hides {count} deletions (limit "
                        f"{limits.max_deletions_per_card}); give each its own number",
                        code="lint-deletions",
                    )
            for number, answer in _CLOZE.findall(f["text"]):
                words = word_count(answer)
                if words > limits.max_answer_words:
                    warn(
                        where["text"],
                        f"card '{card.id}': cloze c{number} hides {words} words (limit "
                        f"{limits.max_answer_words})",
                        code="lint-answer-words",
                    )
        if card.type == "cloze":
            numbers = {int(n) for n, _ in _CLOZE.findall(f["text"])}
            if len(numbers) > limits.max_deletions_per_note:
                warn(
                    where["text"],
                    f"card '{card.id}': {len(numbers)} cloze numbers on one note (limit "
                    f"{limits.max_deletions_per_note}); split it into notes whose clozes overlap",
                    code="lint-clozes-per-note",
                )
        else:
            asked = _asked(f["front"])
            if asked.count("?") > 1 or _TWO_ASKS.search(asked):
                warn(
                    where["front"],
                    f"card '{card.id}': the question asks two things; make a card for each",
                    code="lint-two-questions",
                )
            body, said = _question_body(f["front"]), _normalise(f["back"]).split()
            run = _shared_run(body, said)
            if run >= _REPEATED_RUN or (said and said == body):
                warn(
                    where["back"],
                    f"card '{card.id}': the answer repeats its question ({run} words in a row); "
                    "answer with what the question does not say",
                    code="lint-repeats-question",
                )
        question = _question_key(f["text"] if card.type == "cloze" else f["front"])
        if question in questions:
            warn(
                at,
                f"card '{card.id}': same question as the card at {questions[question]}",
                code="lint-same-question",
            )
        else:
            questions[question] = at
        if limits.paper_tag in card.tags and not card.source.strip():
            warn(at, f"card '{card.id}': a '{limits.paper_tag}' card needs a 'source'", code="lint-source")
    return sorted(warnings, key=lambda d: (d.location, d.message))


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
