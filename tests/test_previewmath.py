"""Math in the preview as a learner will see it (MathML the browser draws), and the printed handout."""

from __future__ import annotations

from pathlib import Path

from deckbuilder.build import DeckPlan
from deckbuilder.previewmath import to_mathml

from .test_preview import Browser, browser, built, needs_chromium, page_data

__all__ = ["browser", "built"]  # fixtures shared with test_preview


def test_inline_and_display_math_become_mathml() -> None:
    shown = to_mathml(
        r'<p>Loss <span class="arithmatex">\(a &lt; b\)</span>:</p>'
        r'<div class="arithmatex">\[\frac{1}{2}\]</div>'
    )
    assert '<math xmlns="http://www.w3.org/1998/Math/MathML" display="inline">' in shown
    assert "<mo>&#x0003C;</mo>" in shown
    assert '<math xmlns="http://www.w3.org/1998/Math/MathML" display="block">' in shown
    assert "<mfrac>" in shown and "\\(" not in shown and "\\[" not in shown


def test_code_keeps_its_tex() -> None:
    fragment = r"<code>\(x\)</code> <pre><code>\[y\]</code></pre>"
    assert to_mathml(fragment) == fragment


def test_unreadable_formula_stays_tex_and_is_marked() -> None:
    shown = to_mathml(r'<span class="arithmatex">\(\frac{a}{\)</span>')
    assert shown.startswith('<span class="arithmatex"><span class="math-error" title="This formula')
    assert r"\(\frac{a}{\)" in shown


def test_page_carries_no_tex(built: tuple[DeckPlan, Path]) -> None:
    _, page = built
    cards = page_data(page)["cards"]
    assert any("<math" in c["q"] for c in cards) and any('display="block"' in c["a"] for c in cards)
    assert not any("\\(" in c["q"] + c["a"] or "\\[" in c["q"] + c["a"] for c in cards)


@needs_chromium
def test_browser_draws_the_math(browser: Browser, built: tuple[DeckPlan, Path]) -> None:
    _, page = built
    browser.open(page)
    sizes = browser.js(
        "[...document.querySelectorAll('.card-host iframe')].flatMap(f => "
        "[...f.contentDocument.querySelectorAll('math')].map(m => m.getBoundingClientRect().width))"
    )
    assert sizes and min(sizes) > 5


@needs_chromium
def test_printing_shows_every_answer(browser: Browser, built: tuple[DeckPlan, Path]) -> None:
    _, page = built
    browser.open(page)
    browser.js("window.dispatchEvent(new Event('beforeprint'))")
    browser.wait_for(
        "[...document.querySelectorAll('.tile')].every(t => t.classList.contains('answer-shown'))"
    )
    browser.call("Emulation.setEmulatedMedia", media="print")
    hidden = browser.js("['.toolbar', '.flip'].map(s => getComputedStyle(document.querySelector(s)).display)")
    assert hidden == ["none", "none"]
    assert browser.js("getComputedStyle(document.querySelector('.tile')).breakInside") == "avoid"
    browser.call("Emulation.setEmulatedMedia", media="")
    browser.js("window.dispatchEvent(new Event('afterprint'))")
    assert browser.js("document.querySelectorAll('.tile.answer-shown').length") == 0
