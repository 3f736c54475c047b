"""HTML of texts too simple to need Markdown: words, `*emphasis*`, `**strong**`, `code`, <https://links>.

Most fields are a short question or answer: converting each with Python-Markdown costs about a
fifth of a millisecond, more than everything else a build does for it. For texts made only of
the pieces below, the HTML is written directly, exactly as Markdown (with our extensions) would
write it once its lone paragraph is unwrapped; anything else gets None and goes to Markdown.
tests/test_properties.py checks the equality on generated texts.

A text is taken when each of its lines (trailing line breaks aside):
- starts with nothing a block could start with (a list, quote, heading, rule, indentation),
- is made of ASCII spaces and any character but controls, other spaces and the ASCII
  punctuation left out of _PLAIN, and of spans `*x*`, `**x**` (x: those
  characters, neither starting nor ending with a space, with no star around the span) and
  `code` (no backquote, backslash, `$` or control character inside; spaces around it are
  dropped, as Markdown does), and of links `<https://…>` or `<http://…>` not starting the line
  (the address of letters, digits and `-._~:/?#@'()+,;=%` only: nothing any Markdown pattern
  that runs before the link's acts on, nothing its HTML escapes),
- and ends with neither a space (a hard line break) nor a colon;
and the text outside the links has no `&` that could start an entity (`&` then a letter, digit
or `#`), no address (`://`, `www.`) and no math.
Its HTML is then the text with `&`, `<`, `>` escaped and the spans turned into elements (a link:
`<a href="address">address</a>`, as magiclink writes it with `hide_protocol: false`).
"""

from __future__ import annotations

import html
import re

# Any character but controls and the ASCII punctuation Markdown, math or HTML act on (as a
# class of what is left out: a class of ranges up to U+10FFFF takes long to compile).
_PLAIN = r"[^\x00-\x1f\x7f-\x9f$*<@\[\\\]^_`|~]"
# _PLAIN but spaces other than ' ' (the Unicode ones Python's \s adds: each is in _PLAIN), as one
# class: a lookahead at every character of a text costs more than the rest of its test.
_LINE_CHAR = r"[^\x00-\x1f\x7f-\xa0$*<@\[\\\]^_`|~\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
_INNER_CHAR = r"[^\x00-\x20\x7f-\xa0$*<@\[\\\]^_`|~\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
# (_INNER_CHAR: without ' ' too, as "(?!\s)" before _PLAIN.)
_INNER = rf"{_INNER_CHAR}(?:{_LINE_CHAR}*{_INNER_CHAR})?"
_CODE = r"[^`\\$\x00-\x1f\x7f-\x9f]"  # no control characters: Markdown expands tabs, keeps \x02 for itself
_URL = r"https?://[A-Za-z0-9\-._~:/?#@'()+,;=%]+"
# One line: nothing a block starts with ("1.\n" is not a list: the space must be on the line).
_LINE = (
    r"(?![-+#>=<\s]|\d+[.)][^\S\n]|\*[^\S\n])"
    # Plain characters, but no space other than ' ' (taken all at once: what follows a run
    # starts with none of them, so the text matches as before, and the run is never split).
    rf"(?:{_LINE_CHAR}++"
    rf"|(?<!\*)(?:\*\*{_INNER}\*\*|\*{_INNER}\*)(?!\*)"
    # A code span with something but spaces in it, read one way only (its characters are no
    # plain text's: a text with many spans that fails later must not try every way to split them).
    rf"|(?<!`)`(?=[^\S\n]*[^\s`]){_CODE}+`(?!`)"
    rf"|<{_URL}>)+"
    r"(?<![ :])"
)
# The whole text at once: lines (none can hold a line break) and the line breaks ending it.
_TEXT = re.compile(rf"{_LINE}(?:\n{_LINE})*\n*")
_SPAN = re.compile(rf"`([^`]+)`|\*\*([^*]+)\*\*|\*([^*]+)\*|&lt;({_URL})&gt;")
_LINK = re.compile(rf"<{_URL}>")
_ENTITY_LIKE = re.compile(r"&[#A-Za-z0-9]")  # an entity, with or without its ";"
_BARE_DOMAIN = re.compile(r"\b(?:www|ftp)\.", re.IGNORECASE)  # magiclink links these without a scheme


def _span(match: re.Match[str]) -> str:
    code, strong, em, address = match.groups()
    if code is not None:
        return f"<code>{code.strip()}</code>"
    if strong is not None:
        return f"<strong>{strong}</strong>"
    if em is not None:
        return f"<em>{em}</em>"
    return f'<a href="{address}">{address}</a>'


def quick_html(text: str) -> str | None:
    """The HTML Markdown would make of `text` (its lone paragraph unwrapped), or None if not simple."""
    if _TEXT.fullmatch(text) is None:
        return None
    linked = "<" in text and "://" in text  # (outside code a '<' starts a link)
    rest = _LINK.sub(" ", text) if linked else text
    if "://" in rest or ("." in rest and _BARE_DOMAIN.search(rest)):
        return None
    if "&" in rest and _ENTITY_LIKE.search(rest):
        return None
    joined = html.escape(text.rstrip("\n"), quote=False)
    if "*" not in joined and "`" not in joined and not linked:
        return joined
    return _SPAN.sub(_span, joined)
