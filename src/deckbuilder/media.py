"""What may ship as media: real images, recognised by their bytes, from visible project files.

An `<img src>` can name any file, so a card could pack `.git/config` or `.env` into every
member's collection. Only files whose bytes are an image format Anki shows are packed; files in
hidden folders (`.git/`) and hidden files never are; SVG, which can carry script and load from
the network, is packed only without either.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

from .projectfiles import refusal


@dataclass(frozen=True)
class MediaType:
    name: str
    mime: str


PNG = MediaType("PNG", "image/png")
JPEG = MediaType("JPEG", "image/jpeg")
GIF = MediaType("GIF", "image/gif")
WEBP = MediaType("WebP", "image/webp")
AVIF = MediaType("AVIF", "image/avif")
BMP = MediaType("BMP", "image/bmp")
SVG = MediaType("SVG", "image/svg+xml")
MP3 = MediaType("MP3", "audio/mpeg")
OGG = MediaType("Ogg", "audio/ogg")
WAV = MediaType("WAV", "audio/wav")
FLAC = MediaType("FLAC", "audio/flac")
M4A = MediaType("M4A", "audio/mp4")
WEBM = MediaType("WebM", "audio/webm")
IMAGES = (PNG, JPEG, GIF, WEBP, AVIF, BMP, SVG)
AUDIO = (MP3, OGG, WAV, FLAC, M4A, WEBM)

_SVG_START = re.compile(
    rb"\A(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)*(?:<!DOCTYPE\s+svg[^>[]*>\s*)?"
    rb"(?:<!--.*?-->\s*)*<svg[\s>]",
    re.DOTALL | re.IGNORECASE,
)
# What makes an SVG more than a picture: script, event handlers, HTML inside it, entities
# (the "billion laughs"), and anything loaded from elsewhere.
_SVG_ACTIVE = re.compile(
    r"""<\s*script|<\s*foreignobject|<!entity|[\s/"']on[a-z]+\s*=|javascript:|vbscript:""",
    re.IGNORECASE,
)
_SVG_EXTERNAL = re.compile(
    r"""(?:href\s*=\s*["']?|url\(\s*["']?|@import\s+["']?)(?!\s*(?:#|data:image/|["')]))""",
    re.IGNORECASE,
)


def sniff(content: bytes) -> MediaType | None:
    """The media type whose signature `content` starts with, or None."""
    head = content[:16]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return WEBP
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return WAV
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis"):
            return AVIF
        if brand in (b"M4A ", b"M4B ", b"mp42", b"isom", b"dash"):
            return M4A
        return None
    if head.startswith(b"BM") and len(content) > 26:
        return BMP
    if head.startswith(b"OggS"):
        return OGG
    if head.startswith(b"fLaC"):
        return FLAC
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return WEBM
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return MP3
    if _SVG_START.match(content[:4096]):
        return SVG
    return None


def svg_problem(content: bytes) -> str | None:
    """Why an SVG may not ship (script, handlers, outside references), or None."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return "is not UTF-8 text"
    # Character references hide words ("&#106;avascript:"), whitespace splits them.
    unescaped = html.unescape(text)
    squeezed = re.sub(r"[\s\x00-\x1f]+", "", unescaped)
    if _SVG_ACTIVE.search(unescaped) or re.search(r"javascript:|<script", squeezed, re.IGNORECASE):
        return "carries script or event handlers"
    if _SVG_EXTERNAL.search(unescaped):
        return "loads something from outside itself (href, url() or @import)"
    return None


def media_problem(root: Path, target: Path) -> str | None:
    """Why `target` may not ship as media of the project at `root`, or None (then it may)."""
    reason = refusal(root, target)
    if reason is not None:
        return reason
    real = target.resolve()
    for path in (target, real):
        try:
            parts = path.relative_to(root).parts
        except ValueError:
            continue
        if any(part.startswith(".") and part not in (".", "..") for part in parts):
            return "is a hidden file or in a hidden folder (like .git/): never packed"
    return None


def content_problem(content: bytes, kinds: tuple[MediaType, ...] = IMAGES) -> str | None:
    """Why these bytes are not media of `kinds`, or None."""
    kind = sniff(content)
    if kind not in kinds:
        names = ", ".join(k.name for k in kinds)
        found = f" (it is {kind.name})" if kind is not None else ""
        return f"is not an image Anki shows{found}: its bytes are none of {names}"
    if kind is SVG:
        problem = svg_problem(content)
        if problem is not None:
            return f"is an SVG that {problem}; remove it"
    return None
