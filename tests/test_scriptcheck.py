"""The script check (activecontent.py) against a real browser's HTML parser.

Anki's desktop and AnkiDroid show cards in Chromium's engine, putting a card's HTML into the
page as markup (innerHTML). Whatever Chromium makes of a fragment that would run on its own (an
`on…=` handler, a <script>, a javascript: link, an SVG animation setting one) the check must
find: it reads HTML with Python's parser, which differs from HTML5's on comments, raw text and
foreign content. The fragments are put together from the pieces where the two parsers part.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deckbuilder.activecontent import URL_ATTRIBUTES, scripts_in

from .test_preview import CHROMIUM, Browser, needs_chromium

pytestmark = needs_chromium

# A page where nothing of a fragment can run or load: its handlers stay attributes to look at.
PAGE = (
    "<!doctype html><html><head><meta http-equiv='Content-Security-Policy' "
    "content=\"default-src 'none'\"></head><body></body></html>"
)

RUNS = """(fragments) => fragments.map((html) => {
  const host = document.createElement('div');
  host.innerHTML = html;  // as a card's HTML goes into the reviewer: parsed, never attached here
  const urls = new Set(%s);
  const running = (v) => /^(javascript|vbscript):|^data:(text\\/html|application\\/xhtml)/
    .test(v.replace(/[\\s\\x00-\\x1f]+/g, '').toLowerCase());
  const found = [];
  for (const el of host.querySelectorAll('*')) {
    if (el.localName === 'script') found.push('script');
    for (const a of el.attributes) {
      const name = a.name.toLowerCase();
      if (name.startsWith('on')) found.push(name);
      else if (urls.has(name) && running(a.value)) found.push(name);
      else if (['animate', 'set'].includes(el.localName) && ['values', 'to', 'from', 'by'].includes(name)
               && a.value.split(';').some(running)) found.push(el.localName + ' ' + name);
    }
  }
  return found;
})"""


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    assert CHROMIUM is not None
    page = tmp_path_factory.mktemp("scriptcheck") / "page.html"
    page.write_text(PAGE)
    browser = Browser(CHROMIUM)
    browser.call("Page.navigate", url=Path(page).as_uri())
    browser.wait_for("document.readyState === 'complete'")
    yield browser
    browser.close()


def what_runs(browser: Browser, fragments: list[str]) -> list[list[str]]:
    found: list[list[str]] = browser.js(
        f"({RUNS % json.dumps(sorted(URL_ATTRIBUTES))})({json.dumps(fragments)})"
    )
    return found


PIECES = [
    "<!--", "-->", "<!-->", "<!--->", "--!>", "-- >", "<![CDATA[", "]]>", "<!x", "<?x", ">",
    "<svg>", "</svg>", "<math>", "</math>", "<style>", "</style>", "<noscript>", "</noscript>",
    "<textarea>", "</textarea>", "<title>", "</title>", "<xmp>", "</xmp>", "<iframe>", "</iframe>",
    "<noembed>", "</noembed>", "<select>", "<table>", "<template>", "<p title=\"", "<p title='",
    "\"", "'", "\">", "x", " ", "<b onclick=alert(1)>", "<img src=x onerror=alert(1)>",
    "<a href=javascript:alert(1)>", "<a><animate attributeName=href values=javascript:alert(1) />",
    "<foreignObject>", "<desc>", "<mglyph>", "<malignmark>", "<annotation-xml encoding=text/html>",
]  # fmt: skip


def test_the_known_cases_run_in_chromium_and_are_found(chromium: Browser) -> None:
    from .test_hostile import HIDDEN_SCRIPT

    fragments = [html for html, _ in HIDDEN_SCRIPT.values()]
    for html, found in zip(fragments, what_runs(chromium, fragments), strict=True):
        assert found, f"Chromium runs nothing of {html!r}: not a case for the check"
        assert scripts_in(html), html


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=10).map("".join))
def test_what_chromium_would_run_the_check_finds(chromium: Browser, fragment: str) -> None:
    (found,) = what_runs(chromium, [fragment])
    if found:
        assert scripts_in(fragment), f"Chromium runs {found} of {fragment!r}"
