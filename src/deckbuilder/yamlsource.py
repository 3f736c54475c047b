"""Read a YAML file into plain values that remember their line numbers.

PyYAML's constructors lose line numbers and silently keep the last of two equal keys, so we
compose the node graph (with libyaml where available) and walk it ourselves.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import yaml

from .model import Diagnostic, Location, slot_maker

_Base: type[yaml.SafeLoader]
try:
    _Base = yaml.CSafeLoader  # type: ignore[assignment]  # libyaml: ~4x faster on big files
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Base = yaml.SafeLoader


class Loader(_Base):  # type: ignore[misc,valid-type]
    """The safe loader, resolving each plain scalar's tag once per file (a card file repeats its
    keys thousands of times). The safe loader has no path resolvers, so a scalar's tag depends
    on its text alone, and a quoted one is always text."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._plain_tags: dict[str, str] = {}

    def resolve(self, kind: type[yaml.Node], value: str, implicit: tuple[bool, bool]) -> str:
        if kind is not yaml.ScalarNode or self.yaml_path_resolvers:
            return str(super().resolve(kind, value, implicit))
        if not implicit[0]:
            return _STR
        tag = self._plain_tags.get(value)
        if tag is None:
            tag = self._plain_tags[value] = str(super().resolve(kind, value, implicit))
        return tag


_CORE = "tag:yaml.org,2002:"
_SCALAR_KINDS = {f"{_CORE}{k}": k for k in ("str", "int", "float", "bool", "null", "timestamp")}
_STR = f"{_CORE}str"
_MERGE = f"{_CORE}merge"
_COLLECTION_TAGS = (f"{_CORE}seq", f"{_CORE}map")
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
MAX_DEPTH = 50


@dataclass(frozen=True, slots=True)
class Value:
    """A YAML value and the line it starts on (for a mapping entry: its key's line)."""

    data: Union[str, int, bool, list[Value], dict[str, Value], None]  # noqa: UP007
    """Scalars other than int and bool keep their text as written; null is None."""
    line: int
    kind: str
    """str, int, float, bool, null, timestamp, seq, map, or invalid (already reported)."""
    raw: str = ""
    """A scalar's text as written (`yes` stays "yes" where text is expected)."""
    column: int = 0
    """1-based column where it starts (for a mapping entry written below its key: the key's)."""
    key_column: int = 0
    """For a mapping entry: its key's column."""
    flow: bool = False
    """A collection written inline, `[...]` or `{...}` (unquoted text that YAML took for one)."""

    @property
    def is_scalar(self) -> bool:
        return self.kind not in ("seq", "map")


_value = slot_maker(Value)
"""Value(data, line, kind, raw, column, key_column, flow), every field given: the walker's."""


class YamlProblems(Exception):
    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        super().__init__("\n".join(map(str, diagnostics)))


def read_yaml(path: Path, rel: str, problems: list[Diagnostic], raw: bytes | None = None) -> Value:
    """Load `path` (or `raw`, its bytes already read); raise YamlProblems if it cannot be read.

    Problems inside a readable file (duplicate keys, forbidden tags) go to `problems` and the
    offending entry is left out, so the rest of the file is still checked.
    """
    try:
        raw = path.read_bytes() if raw is None else raw
    except OSError as e:  # unreadable: reported with the other files' problems
        raise YamlProblems(
            [Diagnostic(Location(rel, 0), f"cannot read: {e.strerror or e}", code="file-unreadable")]
        ) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise YamlProblems(
            [
                Diagnostic(
                    Location(rel, line), f"not valid UTF-8 (byte 0x{raw[e.start]:02x})", code="yaml-encoding"
                )
            ]
        ) from None
    bad = _NOT_YAML.search(text)
    if bad:  # PyYAML would say "position 32" of "<unicode string>"
        line, column = position(text, bad.start())
        message = (
            f"the control character U+{ord(bad.group()):04X} is not allowed in YAML; remove it "
            "(inside double quotes an escape like \\t can stand for one)"
        )
        raise YamlProblems([Diagnostic(Location(rel, line, column), message, code="control-character")])
    simple = _simple_document(text, rel)
    if simple is not None:
        return simple
    try:
        node = yaml.compose(text, Loader=Loader)
    except yaml.MarkedYAMLError as e:
        raise YamlProblems([syntax_problem(text, rel, e)]) from None
    except yaml.YAMLError as e:
        raise YamlProblems([Diagnostic(Location(rel, 1), f"YAML error: {e}", code="yaml-syntax")]) from None
    if node is None:
        raise YamlProblems([Diagnostic(Location(rel, 1), "the file is empty", code="empty-file")])
    walker = _Walker(rel, text)
    line, column = walker.position(node.start_mark)
    value = walker.walk(node, line, (), column)
    walker.check_anchors()
    problems.extend(walker.problems)
    return value


class _Walker:
    def __init__(self, rel: str, text: str) -> None:
        self.rel = rel
        self.text = text
        self.problems: list[Diagnostic] = []
        # Text starting with '&' is an anchor and the rest: `front: &x y` reads as "y". An
        # anchor no alias uses was meant as text. id(node) -> [uses, line, column, index]
        self.anchored: dict[int, list[int]] = {}
        # An alias is the same node again: walk it once, or nine nested aliases of nine
        # items each ("billion laughs") would expand to gigabytes.
        self.walked: dict[int, Value] = {}
        # YAML 1.1 ends lines at U+0085, U+2028, U+2029 and a lone CR too; editors do not.
        self.exact = not (_breaks_maybe(text) and _OTHER_BREAKS.search(text))
        self.ampersand = "&" in text
        """Whether any scalar can start with '&' (an anchor)."""

    def position(self, mark: yaml.Mark) -> tuple[int, int]:
        """1-based line and column of `mark` as an editor counts them."""
        if self.exact:
            return mark.line + 1, mark.column + 1
        return position(self.text, mark.index)

    def problem(self, line: int, message: str, *, code: str, column: int = 0) -> Value:
        self.problems.append(Diagnostic(Location(self.rel, line, column), message, code=code))
        return Value(None, line, "invalid", column=column)

    def walk(
        self, node: yaml.Node, line: int, parents: tuple[int, ...], column: int, key_column: int = 0
    ) -> Value:
        if isinstance(node, yaml.ScalarNode):  # (never a parent: parents are collections)
            return self.scalar(node, line, column, key_column)
        if id(node) in parents:
            return self.problem(line, "an alias refers to its own parent", code="yaml-alias", column=column)
        if id(node) in self.walked:  # an alias: the value again, where the alias is
            return dataclasses.replace(self.walked[id(node)], line=line, column=column)
        if len(parents) >= MAX_DEPTH:
            return self.problem(
                line, f"nested more than {MAX_DEPTH} levels deep", code="yaml-too-deep", column=column
            )
        value = self.collection(node, line, parents, column, key_column)
        self.walked[id(node)] = value
        return value

    def collection(
        self, node: yaml.Node, line: int, parents: tuple[int, ...], column: int, key_column: int
    ) -> Value:
        if node.tag not in _COLLECTION_TAGS:
            return self.problem(line, _forbidden(node.tag), code="yaml-tag", column=column)
        inner = (*parents, id(node))
        flow = bool(getattr(node, "flow_style", False))
        # (Marks inlined: a card file has tens of thousands; `position` where lines are not exact.)
        exact, text, scalar = self.exact, self.text, self.scalar
        if isinstance(node, yaml.SequenceNode):
            items = []
            for item in node.value:
                mark = item.start_mark
                item_line, item_column = (
                    (mark.line + 1, mark.column + 1) if exact else position(text, mark.index)
                )
                if isinstance(item, yaml.ScalarNode):
                    items.append(scalar(item, item_line, item_column, 0))
                else:
                    items.append(self.walk(item, item_line, inner, item_column))
            return _value(items, line, "seq", "", column, key_column, flow)
        assert isinstance(node, yaml.MappingNode)
        entries: dict[str, Value] = {}
        for key_node, value_node in node.value:
            mark = key_node.start_mark
            key_line, key_column = (mark.line + 1, mark.column + 1) if exact else position(text, mark.index)
            key_tag = key_node.tag
            if key_tag == _MERGE:
                self.problem(
                    key_line, "merge keys ('<<') are not supported", code="yaml-merge-key", column=key_column
                )
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_tag not in _SCALAR_KINDS:
                self.problem(key_line, "a mapping key must be plain text", code="yaml-key", column=key_column)
                continue
            key = key_node.value
            if key in entries:
                message = f"duplicate key '{key}' (first at line {entries[key].line})"
                self.problem(key_line, message, code="duplicate-key", column=key_column)
                continue
            mark = value_node.start_mark
            start_line, start_column = (
                (mark.line + 1, mark.column + 1) if exact else position(text, mark.index)
            )
            value_column = start_column if start_line == key_line else key_column
            if isinstance(value_node, yaml.ScalarNode):
                entries[key] = scalar(value_node, key_line, value_column, key_column)
            else:
                entries[key] = self.walk(value_node, key_line, inner, value_column, key_column)
        return _value(entries, line, "map", "", column, key_column, flow)

    def scalar(self, node: yaml.ScalarNode, line: int, column: int, key_column: int) -> Value:
        if self.ampersand and self.text.startswith("&", node.start_mark.index):
            self.anchored.setdefault(id(node), [0, line, column, node.start_mark.index])[0] += 1
        tag = node.tag
        if tag == _STR:  # most values: text as written
            return _value(node.value, line, "str", node.value, column, key_column, False)
        kind = _SCALAR_KINDS.get(tag)
        if tag in _YAML11_TEXT and not node.style:  # plain: libyaml says '', PyYAML None
            kind = "str"  # `back: =` and `back: <<` are the text written, whatever YAML 1.1 says
        if kind is None:
            return self.problem(line, _forbidden(tag), code="yaml-tag", column=column)
        if kind == "null":
            return Value(None, line, kind, column=column, key_column=key_column)
        if kind in ("int", "bool"):
            try:
                data = _CONSTRUCTOR.construct_object(node)
            except (yaml.YAMLError, ValueError, LookupError):  # `!!int abc`: text after all
                data = node.value
                kind = "str"
            return Value(data, line, kind, node.value, column, key_column)
        return Value(node.value, line, kind, node.value, column, key_column)

    def check_anchors(self) -> None:
        for uses, line, column, index in self.anchored.values():
            if uses == 1:
                written = self.text[index:].partition("\n")[0].strip()
                self.problem(
                    line,
                    f"'{written[:40]}' is read as a YAML anchor and the text after it; quote the "
                    "value: unquoted text starting with '&' is an anchor (e.g. front: \"&…\")",
                    code="yaml-anchor",
                    column=column,
                )


# A file of the simplest shape is read without libyaml, line by line, into the very values the
# walker makes of libyaml's nodes (tests/test_fastpaths.py compares the two): top-level
# `key: value` lines, and `key:` lines each followed by a block list of flat mappings, one
# `key: value` a line. A value is "double quoted" (escaping only \" and \\), 'single quoted', plain
# text on its line, a [list, of, words], or a `|` or `>-` block of lines. Anything else (comments
# aside) — another indentation, a nested value, a null, a duplicate key, a tab, a line break
# YAML 1.1 sees and editors do not, a block with lines more indented or empty ones where that
# matters — is left to libyaml.
_PLAIN_TEXT = r"""[^\s\-?:,\[\]{}#&*!|>'"%@`][^\s:]*+(?:(?::(?=\S)| ++(?=[^\s#]))[^\s:]*+)*+"""
"""Plain text in a block mapping: no indicator first, no ': ' or ' #', no end space (YAML's
blanks are spaces here; any other space character leaves the line to libyaml). Each pattern of
a line's value takes its ordinary characters as one run between the few that need a look
around: one alternation per character took three times as long on long lines."""
_FLOW_WORD = r"[A-Za-z0-9][A-Za-z0-9_./+-]*"
# (libyaml takes a plain key of at most 1024 characters: a longer one is a syntax error.)
_SIMPLE_LINE = re.compile(
    r'( *)(- )?([a-z_]{1,1024}):(?: (?:"([^"\\\n]*+(?:\\["\\][^"\\\n]*+)*+)"'  # spaces, "- ", key, "text"
    r"|'([^'\n]*+(?:''[^'\n]*+)*+)'"  # 'text'
    rf"|(\[(?:{_FLOW_WORD}(?:, {_FLOW_WORD})*)?\])"  # [words]
    r"|(\||>-)"  # a block's header
    rf"|({_PLAIN_TEXT})))?"  # plain text
)
_ESCAPED = re.compile(r'\\(["\\])')
_RESOLVER = yaml.resolver.Resolver()
_IMPLICIT = Loader.yaml_implicit_resolvers
"""The resolver's implicit types by a plain scalar's first character: text starting with no
other character is text (PyYAML's own first test)."""


def _simple_document(text: str, rel: str) -> Value | None:
    """read_yaml's value of `text` if it has the simplest shape (above), else None."""
    if "\t" in text or "\ufeff" in text or "\r" in text:  # (a block's lines would keep a "\r")
        return None
    walker = _Walker(rel, text)
    if not walker.exact:
        return None
    top: dict[str, Value] = {}
    root_line = 0
    list_key = ""  # a top-level key whose list is to come (its first "- " line)
    list_line = 0
    items: list[Value] | None = None  # the list being read
    indent = 0  # of its "- "
    entries: dict[str, Value] = {}  # the mapping being read
    lines = text.split("\n")
    starts: list[int] = []  # each line's first character's index, once a plain value needs a mark
    number = 0
    while number < len(lines):
        line = lines[number]
        number += 1  # (the line's number, 1-based: the index of the next line)
        if not line:
            continue
        match = _SIMPLE_LINE.fullmatch(line)
        if match is None:
            if line.lstrip(" ").startswith("#"):  # a comment
                continue
            return None
        spaces, dash, key, double, single, flow, block, plain = match.groups()
        column = len(spaces) + 1
        if dash:
            if list_key:  # the list begins
                items = []
                indent = len(spaces)
                top[list_key] = _value(items, list_line, "seq", "", 1, 1, False)
                list_key = ""
            elif items is None or len(spaces) != indent:
                return None
            column += 2
            entries = {}
            # (A mapping's key_column is its last key's, as the walker's loop leaves it.)
            items.append(_value(entries, number, "map", "", column, column, False))
        elif items is not None and len(spaces) == indent + 2:
            pass  # the mapping goes on
        elif not spaces and not list_key:
            items, entries = None, top
            root_line = root_line or number
        else:
            return None
        if key in entries:
            return None
        at = column + len(key) + 2
        if double is not None:
            if "\\" in double:
                double = _ESCAPED.sub(r"\1", double)
            entries[key] = _value(double, number, "str", double, at, column, False)
        elif plain is not None:
            entries[key] = _plain(walker, plain, number, at, column, lines, starts)
        elif single is not None:
            single = single.replace("''", "'")
            entries[key] = _value(single, number, "str", single, at, column, False)
        elif flow is not None:
            found = []
            where = at + 1
            for word in flow[1:-1].split(", ") if len(flow) > 2 else ():
                found.append(_plain(walker, word, number, where, 0, lines, starts))
                where += len(word) + 2
            entries[key] = _value(found, number, "seq", "", at, column, True)
        elif block is not None:
            body, after = _block(lines, number, column - 1, literal=block == "|")
            if body is None:
                return None
            entries[key] = _value(body, number, "str", body, at, column, False)
            number = after
        else:
            if entries is not top:
                return None
            list_key, list_line = key, number
            entries[key] = _NO_VALUE
    if list_key or not top:
        return None
    walker.check_anchors()
    if walker.problems:
        return None
    return _value(top, root_line, "map", "", 1, 1, False)


def _plain(
    walker: _Walker, word: str, line: int, column: int, key_column: int, lines: list[str], starts: list[int]
) -> Value:
    """The walker's value of plain text at `line` and `column` (`starts`: filled on first need)."""
    if word[0] not in _IMPLICIT and None not in _IMPLICIT:  # text (and it cannot start with "&")
        return _value(word, line, "str", word, column, key_column, False)
    if not starts:
        starts += itertools.accumulate((len(x) + 1 for x in lines), initial=0)
    tag = _RESOLVER.resolve(yaml.ScalarNode, word, (True, False))  # type: ignore[no-untyped-call]
    mark = yaml.Mark(walker.rel, starts[line - 1] + column - 1, line - 1, column - 1, None, None)  # type: ignore[arg-type]
    return walker.scalar(yaml.ScalarNode(tag, word, mark, mark), line, column, key_column)


def _block(lines: list[str], first: int, parent: int, *, literal: bool) -> tuple[str | None, int]:
    """The text of a `|` block (literal: lines kept, one line break at the end) or a `>-` one
    (folded: lines joined by spaces, none at the end) whose lines start at lines[first], in a
    mapping indented by `parent`, and the index of the line after it; None for a block whose
    lines are not the plainest: a first line empty or not indented past the mapping, a line of
    spaces only, for `>-` a line more indented or an empty one between lines, a block ending
    the file without a line break."""
    head = lines[first] if first < len(lines) else ""
    depth = len(head) - len(head.lstrip(" "))
    if not head or depth == len(head) or depth <= parent:
        return None, first
    body = []
    at = first
    while at < len(lines):
        line = lines[at]
        if line:
            spaces = len(line) - len(line.lstrip(" "))
            if spaces == len(line) or (spaces > depth and not literal):
                return None, at
            if spaces < depth:
                break
            line = line[depth:]
        body.append(line)
        at += 1
    if at == len(lines) and lines[-1]:  # (the last line has no line break)
        return None, at
    while not body[-1]:  # empty lines after the block: not its text (clip and strip drop them)
        body.pop()
    if literal:
        return "\n".join(body) + "\n", at
    if "" in body:
        return None, at
    return " ".join(body), at


_NO_VALUE = Value(None, 0, "null")
"""A top-level key's value until its list begins."""


def position(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of character `index` of `text`, lines ending at "\n" only."""
    start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - start + 1


_OTHER_BREAKS = re.compile("[\x85\u2028\u2029]|\r(?!\n)")


def _breaks_maybe(text: str) -> bool:
    """Whether `text` has a character _OTHER_BREAKS looks for (four quick scans beat one regex)."""
    return "\r" in text or "\x85" in text or "\u2028" in text or "\u2029" in text


_YAML11_TEXT = {f"{_CORE}value", f"{_CORE}merge"}
# What YAML does not accept in a file (all but its "printable" set: \t \n \r \x20-\x7e \x85
# \xa0-\ud7ff \ue000-\ufffd \U00010000-\U0010ffff), which stops PyYAML. Written as the ranges
# left out: a negated class reaching U+10FFFF takes 5 ms to compile, a third of our regexes' time.
_NOT_YAML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")


def _forbidden(tag: str) -> str:
    if tag.startswith(_CORE):
        shown = "!!" + tag[len(_CORE) :]
        return f"YAML tag '{shown}' is not allowed: cards hold plain text, lists and mappings"
    return f"YAML tag '{tag}' is not allowed; if the '!' is text, quote the value: \"{tag} …\""


LINE_BREAK = re.compile("\r?\n")
"""What ends a line in an editor, and so for our line numbers (YAML 1.1 also ends lines at
U+0085, U+2028, U+2029 and a lone CR: `position` corrects its marks)."""

# Hints for the classic mistakes, by the words of PyYAML's (libyaml's) message.
_QUOTE_EXAMPLE = 'e.g. front: "What is it: this?"'


def syntax_problem(text: str, rel: str, error: yaml.MarkedYAMLError) -> Diagnostic:
    """A YAML syntax error as `path:line:col: message; hint`, located where the fix goes."""
    problem = error.problem or error.context or "invalid YAML"
    mark = error.problem_mark or error.context_mark
    # An unclosed [ { or quote is reported where the file ends: point at where it opened.
    # So is a bad anchor or alias: point at its '&' or '*'.
    context = error.context or ""
    if error.context_mark is not None and any(w in context for w in ("flow", "quoted", "anchor", "alias")):
        mark = error.context_mark
    line, column = (0, 0) if mark is None else (p - 1 for p in position(text, mark.index))
    lines = LINE_BREAK.split(text)
    source = lines[line] if line < len(lines) else ""
    if "tab" in problem and "\t" in source[: column + 1]:
        column = source.index("\t")
    char = source[column] if column < len(source) else ""
    message = f"YAML syntax error: {problem}"
    hint = _hint(problem, error.context or "", char, source, column)
    if hint:
        message += f"; {hint}"
    return Diagnostic(Location(rel, line + 1, column + 1), message, code="yaml-syntax")


def _hint(problem: str, context: str, char: str, source: str, column: int) -> str:
    if char == "\t" or "tab" in problem:
        return "tabs are not allowed in YAML indentation: indent with spaces"
    if "mapping values are not allowed" in problem:
        return f"quote the value: an unquoted ': ' inside text starts a mapping ({_QUOTE_EXAMPLE})"
    if "cannot start any token" in problem and char in "`@%":
        return f"quote the value: unquoted text cannot start with '{char}' (e.g. front: \"{char}…\")"
    if "alias" in context or "alias" in problem:
        return "quote the value: unquoted text starting with '*' is a YAML alias (e.g. front: \"*…\")"
    if "anchor" in context:
        return "quote the value: unquoted text starting with '&' is a YAML anchor (e.g. front: \"&…\")"
    if "flow sequence" in context or "flow mapping" in context:
        return "quote the value: unquoted text starting with '[' or '{' is a YAML list or mapping"
    if "quoted scalar" in context:
        return "a quote is never closed; inside '…' write '' for a ', inside \"…\" write \\\""
    if "expected key" in problem and re.search(r":\s+[\[{]", source[:column]):
        return "quote the value: unquoted text starting with '[' or '{' is a YAML list or mapping"
    if "expected key" in problem and any(q in source[:column] for q in "'\""):
        return "text follows a quoted value: quote the whole value (inside '…' write '' for a ')"
    if "expected key" in problem or "block end" in problem:
        return "check the indentation: keys of one mapping line up, list items start with '- '"
    if "expected ':'" in problem:
        return "each line of a mapping is 'key: value'; quote text, or continue it with '|' or '>'"
    return ""
