"""Strings a face can draw, and where a line may break."""
from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass

from .corpus import Language
from .fonts import Face
from .scripts import _IGNORABLE, Script


class Text:
    """Strings of one language that one face can draw in full."""

    def __init__(self, lang: Language, face: Face, script: Script):
        self.lang, self.face, self.script = lang, face, script
        missing = {c for c in lang.chars if not face.has(c)}
        if missing:
            self.lines = [s for s in lang.lines if missing.isdisjoint(s)]
            self.short = [s for s in lang.short if missing.isdisjoint(s)]
        else:
            self.lines, self.short = lang.lines, lang.short
        self.ok = len(self.lines) >= 10 and len(self.short) >= 8

    def sentence(self, rng: random.Random) -> str:
        return rng.choice(self.lines)

    def paragraph(self, rng: random.Random, n: int) -> str:
        sep = "" if self.script.name in ("han", "japanese") else " "
        return sep.join(self.sentence(rng) for _ in range(n))

    def phrase(self, rng: random.Random, max_chars: int = 40, min_chars: int = 2) -> str:
        for _ in range(12):
            s = rng.choice(self.short)
            if min_chars <= len(s) <= max_chars:
                return s
        return rng.choice(self.short)[:max_chars].strip()


_TEXT_CACHE: dict[tuple, Text] = {}


def text_for(lang: Language, face: Face, script: Script) -> Text:
    key = (lang.code, face.path, face.index)
    t = _TEXT_CACHE.get(key)
    if t is None:
        if len(_TEXT_CACHE) > 512:
            _TEXT_CACHE.clear()
        t = _TEXT_CACHE[key] = Text(lang, face, script)
    return t


# --------------------------------------------------------------------------- line breaking
_CLOSE = set("、。，．・：；？！）」』】〕〉》”’)]}.,:;!?%")
_OPEN = set("（「『【〔〈《“‘([{")
_JOIN_NEXT = {"\u17d2", "\u1039", "\u0f84", "\u200d", "\u200c"}
_LEADING_VOWELS = set("\u0e40\u0e41\u0e42\u0e43\u0e44\u0ec0\u0ec1\u0ec2\u0ec3\u0ec4\u1031")


def clusters(s: str) -> list[str]:
    """``s`` cut where a line may break inside a word: never before a combining mark, after a
    virama/coeng or joiner, or after a Thai/Lao leading vowel."""
    out: list[str] = []
    for ch in s:
        if out and (unicodedata.category(ch).startswith("M") or out[-1][-1] in _JOIN_NEXT
                    or out[-1][-1] in _LEADING_VOWELS or ch in _IGNORABLE):
            out[-1] += ch
        else:
            out.append(ch)
    return out


_CJK_UNIT = re.compile(r"[A-Za-z0-9][A-Za-z0-9.,'+\-]*|\s+|.", re.S)


def units(s: str, script: Script) -> list[tuple[str, str]]:
    """``(piece, separator before it)`` pieces of ``s`` between which a line may break."""
    if script.spaced or script.name not in ("han", "japanese"):
        return [(w, " ") for w in s.split()]
    out: list[tuple[str, str]] = []
    sep = ""
    pending_open = ""
    for m in _CJK_UNIT.finditer(s):
        t = m.group()
        if t.isspace():
            sep = " "
            continue
        if t in _OPEN:
            pending_open += t
            continue
        if t in _CLOSE and out:
            out[-1] = (out[-1][0] + t, out[-1][1])
            continue
        out.append((pending_open + t, sep))
        pending_open, sep = "", ""
    if pending_open:
        out.append((pending_open, sep))
    return out


@dataclass
class Line:
    pieces: list[tuple[str, str]]
    width: float
    last: bool = False        # the paragraph's last line (never justified)

    @property
    def text(self) -> str:
        return "".join((sep if i else "") + p for i, (p, sep) in enumerate(self.pieces))
