"""Hostile review of today's fast paths: their output against the slow path they stand for.

quick_html stands for Python-Markdown (with our extensions) on texts it calls simple: wherever it
gives HTML, that HTML must be Markdown's, its lone paragraph unwrapped.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deckbuilder.quickhtml import quick_html
from deckbuilder.render import new_markdown, unwrap_paragraph

_MD = new_markdown()


def _markdown(text: str) -> str:
    return unwrap_paragraph(_MD.reset().convert(text))


@pytest.mark.parametrize(
    "text",
    ["WWW.example.com", "see Www.example.com now", "wWw.example.org", "(WWW.example.com)"],
)
def test_bare_domain_in_capitals_is_not_taken_for_plain_text(text: str) -> None:
    # magiclink's bare-link pattern is case-insensitive ((?xi) ... w{3}\.): Markdown links
    # "WWW.example.com"; quickhtml's _BARE_DOMAIN (\b(?:www|ftp)\.) only sees lower case, so the
    # fast path ships the text without its link.
    quick = quick_html(text)
    assert quick is None or quick == _markdown(text)


_TOKENS = st.sampled_from(
    [
        "a",
        "Z",
        "é",
        "😀",
        " ",
        "\n",
        "*",
        "**",
        "`",
        ".",
        ",",
        ":",
        ";",
        "!",
        "?",
        "'",
        '"',
        "(",
        ")",
        "#",
        "+",
        "-",
        "=",
        "%",
        "/",
        ">",
        "1.",
        "1)",
        "&",
        "&amp;",
        "&#x41;",
        "x.com",
        "www.",
        "\u00a0",
        "<https://a.b/c>",
        "<http://x.y/?q=1;r=(2)>",
        "<https://x:8/~u/'q'>",
        "<https://a.b/#f>",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_TOKENS, min_size=1, max_size=10).map("".join))
def test_quick_html_is_markdowns_html(text: str) -> None:
    quick = quick_html(text)
    if quick is not None:
        assert quick == _markdown(text)
