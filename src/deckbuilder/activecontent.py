"""Script in card HTML: what members' Anki would run when it shows a card.

Anki runs a card's `<script>`, its `on…=` handlers and its `javascript:` links. A card field
(or a deck description) that carries any of them is an error unless the deck file opts in with
`allow_scripts: true`.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Attributes whose value is a URL the browser may follow or load.
URL_ATTRIBUTES = frozenset(
    {"href", "src", "action", "formaction", "data", "xlink:href", "poster", "background", "srcset", "ping"}
)
_SCHEME_NOISE = re.compile(r"[\s\x00-\x1f]+")
_RUNNING_SCHEMES = ("javascript:", "vbscript:", "data:text/html", "data:application/xhtml")
# SVG animations set another attribute (an <a>'s href) to these values.
_ANIMATIONS = frozenset({"animate", "set", "animatemotion", "animatetransform"})
_ANIMATED_VALUES = frozenset({"values", "to", "from", "by"})
# What a browser reads as markup but Python's parser hides: comments and declarations (HTML5
# ends `<!-->`, `<!--->` and `--!>` comments, and `<![CDATA[` or `<!x` ones at the first `>`,
# where Python reads on to `-->`), and the text of <style>, which inside <svg> or <math> is
# markup. These openers are made text before the scan, so every tag anywhere is seen: what a
# comment holds may be taken for markup (an error its author can mend), never the reverse.
_HIDING = re.compile(r"<(?=[!?])")
_STYLE = re.compile(r"<(/?)(style\b)", re.IGNORECASE)
# Markup of the plain formatting elements only, each tag bare or with a class, and links to
# web pages: what Markdown writes for most fields. Such a fragment has no attribute that runs
# or loads anything, no comment and no element whose text a parser reads raw, so its tags are
# all `_TAG` finds.
_PLAIN_TAGS = re.compile(  # (text, then tags each followed by text: one way to match, no backtracking)
    r"[^<]*(?:(?:</?(?:p|em|strong|code|pre|span|div|b|i|u|s|del|ins|sub|sup|mark|small|kbd|ul|ol|li"
    r"|dl|dt|dd|table|thead|tbody|tfoot|tr|th|td|blockquote|h[1-6]|a)(?: class=\"[^\"<>&]*\")?>"
    r"|<a href=\"https?://[^\"<>&]*\">|<(?:br|hr)(?: ?/)?>)[^<]*)*"
)


class _Finder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.found.append("a <script> element")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"an event handler {name}= on <{tag}>")
            elif value is not None and (name in URL_ATTRIBUTES or (tag == "meta" and name == "content")):
                url = _SCHEME_NOISE.sub("", value).lower()
                url = url.split("url=", 1)[-1] if tag == "meta" else url
                if url.startswith(_RUNNING_SCHEMES):
                    self.found.append(f"a {url.split(':', 1)[0]}: URL in {name}= of <{tag}>")
            elif name == "srcdoc" and value:
                self.found += [f"{what} inside <{tag} srcdoc>" for what in scripts_in(value)]
            elif tag in _ANIMATIONS and name in _ANIMATED_VALUES and value:
                for part in value.split(";"):
                    url = _SCHEME_NOISE.sub("", part).lower()
                    if url.startswith(_RUNNING_SCHEMES):
                        self.found.append(f"a {url.split(':', 1)[0]}: URL <{tag}> sets ({name}=)")
            elif value and "<" in value:
                # Markup in a value is markup to a browser that ends the element around it
                # early (`<noscript><p title="</noscript><img onerror=…>">`).
                self.found += [f"{what} inside {name}= of <{tag}>" for what in scripts_in(value)]

    handle_startendtag = handle_starttag


def scripts_in(html: str) -> list[str]:
    """What in `html` would run as script, described for a message; [] when nothing would."""
    if "<" not in html or only_plain_tags(html):
        return []
    finder = _Finder()
    finder.feed(_STYLE.sub(r"<\1x-\2", _HIDING.sub("&lt;", html)))
    finder.close()
    return list(dict.fromkeys(finder.found))


def only_plain_tags(html: str) -> bool:
    """Whether every tag of `html` is a plain formatting element's, bare or with a class only."""
    return _PLAIN_TAGS.fullmatch(html) is not None
