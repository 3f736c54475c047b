"""Math in the preview as MathML, which browsers draw themselves: offline, no MathJax bundled.

Cards carry TeX for Anki's MathJax as `\\(…\\)` (inline) and `\\[…\\]` (display), HTML-escaped;
code keeps its backslashes. A formula latex2mathml cannot read stays TeX, marked as an error.
"""

from __future__ import annotations

import html
import re

from latex2mathml import exceptions
from latex2mathml.converter import convert

_CODE = re.compile(r"(<pre\b.*?</pre>|<code\b.*?</code>)", re.DOTALL | re.IGNORECASE)
_MATH = re.compile(r"\\\((?P<inline>.+?)\\\)|\\\[(?P<display>.+?)\\\]", re.DOTALL)
# latex2mathml's own errors, and what its parser raises on input it does not expect.
_UNREADABLE: tuple[type[Exception], ...] = (
    *(c for c in vars(exceptions).values() if isinstance(c, type) and issubclass(c, Exception)),
    IndexError,
    KeyError,
    ValueError,
    TypeError,
)


def to_mathml(fragment: str) -> str:
    """A card side's HTML with each formula outside code as MathML."""
    if "\\(" not in fragment and "\\[" not in fragment:
        return fragment
    parts = _CODE.split(fragment)
    return "".join(part if i % 2 else _MATH.sub(_formula, part) for i, part in enumerate(parts))


def _formula(match: re.Match[str]) -> str:
    display = match.group("display") is not None
    tex = html.unescape(match.group("display") if display else match.group("inline"))
    try:
        return convert(tex, display="block" if display else "inline")
    except _UNREADABLE as e:
        reason = html.escape(f"{type(e).__name__}: {e}".rstrip(": "))
        title = f"This formula could not be shown here ({reason}); Anki's MathJax may still typeset it"
        return f'<span class="math-error" title="{title}">{match.group(0)}</span>'
