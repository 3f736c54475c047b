"""Display math written inside or next to text, kept as math for Anki's MathJax.

pymdownx.arithmatex takes `$$…$$` and `\\[…\\]` as display math only when they stand alone in
their paragraph. Written inside a sentence, `$$x$$` became `$` + inline math + `$`; followed by a
line of text, `\\[x\\]` lost its backslashes to Markdown's escapes and was no math at all. This
preprocessor hands such formulas to Markdown as finished HTML, so they reach Anki as `\\[…\\]`.
It also keeps punctuation right after inline math on the formula's line.
"""

from __future__ import annotations

import html
import re

from markdown import Extension, Markdown
from markdown.postprocessors import Postprocessor
from markdown.preprocessors import Preprocessor

# A code span (left alone), or display math: $$…$$ (not an escaped \$) or \[…\].
_TOKEN = re.compile(
    r"(?P<code>(`+).+?(?<!`)\2(?!`))|(?<!\\)\$\$(?P<dollar>.+?)(?<!\\)\$\$|\\\[(?P<square>.+?)\\\]",
    re.DOTALL,
)
_STANDALONE = re.compile(r"\s*(?:(?<!\\)\$\$.+?(?<!\\)\$\$|\\\[.+?\\\])\s*", re.DOTALL)
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
# Inline math followed by punctuation: one unit a line break cannot split.
_MATH_THEN_MARK = re.compile(
    r'(<span class="arithmatex">\\\((?:(?!</span>).)*\\\)</span>)([,.;:!?)\]]+)', re.DOTALL
)


class _DisplayMathInText(Preprocessor):
    def run(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        block: list[str] = []
        fence = ""
        for line in lines:
            mark = _FENCE.match(line)
            if fence:
                out.append(line)
                if mark and mark.group(1).startswith(fence):
                    fence = ""
                continue
            if mark:
                out += self._block(block)
                block = []
                fence = mark.group(1)
                out.append(line)
            elif line.strip():
                block.append(line)
            else:
                out += self._block(block)
                block = []
                out.append(line)
        return out + self._block(block)

    def _block(self, lines: list[str]) -> list[str]:
        text = "\n".join(lines)
        if not lines or _STANDALONE.fullmatch(text) or ("$$" not in text and "\\[" not in text):
            return lines  # arithmatex's own block math, or nothing to do
        return _TOKEN.sub(self._stash, text).split("\n")

    def _stash(self, match: re.Match[str]) -> str:
        if match.group("code"):
            return match.group(0)
        tex = match.group("dollar") if match.group("dollar") is not None else match.group("square")
        tex = html.escape(tex, quote=False)
        return self.md.htmlStash.store(f'<span class="arithmatex">\\[{tex}\\]</span>')


class _KeepPunctuation(Postprocessor):
    def run(self, text: str) -> str:
        return _MATH_THEN_MARK.sub(r'<span class="nowrap">\1\2</span>', text)


class MathInTextExtension(Extension):
    def extendMarkdown(self, md: Markdown) -> None:
        # After fenced code is stashed (25), before raw HTML blocks are (20).
        md.preprocessors.register(_DisplayMathInText(md), "display-math-in-text", 24)
        md.postprocessors.register(_KeepPunctuation(md), "math-keeps-punctuation", 10)


def makeExtension(**kwargs: object) -> MathInTextExtension:
    return MathInTextExtension(**kwargs)
