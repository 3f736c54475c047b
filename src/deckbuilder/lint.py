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

    def warn(location: Location, message: str) -> None:
        warnings.append(Diagnostic(location, message, warning=True))

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
                )
        for name, answer in answers:
            for match in _LIST.finditer(answer):
                items = len(re.findall(r"<li\b", match.group(2)))
                if items > limits.max_list_items:
                    warn(
                        where[name],
                        f"card '{card.id}': answer lists {items} items (limit "
                        f"{limits.max_list_items}); make a card per item or a cloze",
                    )
        if card.type == "cloze":
            counts = Counter(n for n, _ in _CLOZE.findall(f["text"]))
            for number, count in sorted(counts.items(), key=lambda kv: int(kv[0])):
                if count > limits.max_deletions_per_card:
                    warn(
                        where["text"],
                        f"card '{card.id}': cloze c{number} hides {count} deletions (limit "
                        f"{limits.max_deletions_per_card}); give each its own number",
                    )
            for number, answer in _CLOZE.findall(f["text"]):
                words = word_count(answer)
                if words > limits.max_answer_words:
                    warn(
                        where["text"],
                        f"card '{card.id}': cloze c{number} hides {words} words (limit "
                        f"{limits.max_answer_words})",
                    )
        question = _normalise(f["text"] if card.type == "cloze" else f["front"])
        if question in questions:
            warn(
                at,
                f"card '{card.id}': same question as the card at {questions[question]}",
            )
        else:
            questions[question] = at
        if limits.paper_tag in card.tags and not card.source.strip():
            warn(at, f"card '{card.id}': a '{limits.paper_tag}' card needs a 'source'")
    return sorted(warnings, key=lambda d: (d.location, d.message))


def _normalise(fragment: str) -> str:
    return re.sub(r"[^\w]+", " ", plain_text(fragment).lower()).strip()
