"""What one layout function draws with: canvas, randomness, fonts and text of one page."""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol

from .canvas import Canvas
from .corpus import Corpus, Language
from .fonts import LATIN_SAMPLE, Face, FontBook, Style
from .scripts import _DIGITS_AR, _DIGITS_FA, Script
from .text import Text, text_for


class Plan(Protocol):
    """What a page takes from the generator that plans it (:class:`~.generator.Generator`)."""
    fonts: FontBook
    corpus: Corpus


class Page:
    """Everything one layout function needs: canvas, randomness, fonts and text."""

    def __init__(self, gen: Plan, rng: random.Random, layout: str, script: Script, lang: Language,
                 w: int, h: int, theme: str = "light"):
        self.gen, self.rng, self.layout, self.script, self.lang = gen, rng, layout, script, lang
        self.theme = theme
        if theme == "dark":
            paper, ink = rng.randint(18, 70), rng.randint(215, 255)
        else:
            paper, ink = rng.randint(236, 255), rng.randint(0, 55)
        self.cv = Canvas(w, h, paper, ink, script, lang.code, True)
        self.w, self.h = w, h
        self.u = max(w, h) / 1100.0      # size unit: 1 at the default long side
        self.notes: list[str] = []
        self.hand_ok = True
        self._num_face: Face | None = None
        freq = gen.corpus.freq(script.name)
        # ink extents are measured on the script's commonest letters plus its tallest marks
        self.sample = "".join(sorted(c for c, _ in freq[:40])) + (LATIN_SAMPLE if script.name == "latin" else "")

    # ink levels
    def gray(self, k: float) -> int:
        """A level ``k`` of the way from paper to ink (0 paper, 1 ink)."""
        return int(round(self.cv.paper + (self.cv.ink - self.cv.paper) * k))

    # fonts ---------------------------------------------------------------
    def family_style(self, role: str, size: float, bold: bool = False, family: str | None = None) -> Style | None:
        """A face of ``role`` for this page's script whose strings of this language are plenty."""
        fb, s = self.gen.fonts, self.script.name
        if family is not None:
            order = [family] if family in fb.table.get(s, {}).get(role, {}) else []
        else:
            order = fb.ordered(s, role, self.rng)
        for fam in order:
            faces = [f for f in fb.faces_of(s, role, fam) if not f.italic] or fb.faces_of(s, role, fam)
            if bold:
                heavy = [f for f in faces if f.weight >= 600]
                faces = heavy or faces
                faces = sorted(faces, key=lambda f: (abs(f.weight - 700), f.path, f.index))
            else:
                faces = sorted(faces, key=lambda f: (abs(f.weight - 400), f.path, f.index))
                faces = [f for f in faces if 300 <= f.weight <= 500] or faces[:1]
            face = faces[0] if self.rng.random() < 0.75 else self.rng.choice(faces)
            if text_for(self.lang, face, self.script).ok:
                return Style(face, max(6, int(round(size))), self.sample)
        return None

    def styles(self, size: float, role: str = "text") -> tuple[Style, Style]:
        """Regular and bold styles of one family (bold = regular if the family has none)."""
        reg = self.family_style(role, size) or self.family_style("text", size) or self.family_style("mono", size)
        if reg is None:
            raise RuntimeError(f"no face draws enough {self.lang.code} text")  # the generator plans around this
        bold = self.family_style(role if role == reg.face.role else "text", size, bold=True, family=reg.face.family)
        return reg, bold or reg

    def body(self, lo: float, hi: float) -> tuple[float, Style, Style, Text]:
        """A layout's body text: its size (drawn in ``[lo, hi)`` points, in page units), regular and
        bold styles (:meth:`styles`) and the text the regular face draws (:meth:`T`)."""
        size = self.rng.uniform(lo, hi) * self.u
        body, bold = self.styles(size)
        return size, body, bold, self.T(body)

    def hand(self, size: float) -> Style:
        """A handwriting face; where none covers the script, an italic text face (else upright)."""
        st = self.family_style("hand", size)
        if st is None:
            self.hand_ok = False
            st = self.italic(size) or self.styles(size)[0]
        return st

    def italic(self, size: float) -> Style | None:
        fb, s = self.gen.fonts, self.script.name
        for fam in fb.ordered(s, "text", self.rng):
            for f in fb.faces_of(s, "text", fam):
                if f.italic and f.weight <= 500 and text_for(self.lang, f, self.script).ok:
                    return Style(f, max(6, int(round(size))), self.sample)
        return None

    def mono(self, size: float) -> Style:
        return self.family_style("mono", size) or self.styles(size)[0]

    def code_style(self, size: float) -> Style | None:
        faces = self.gen.fonts.ascii_mono or self.gen.fonts.ascii_text
        return Style(self.rng.choice(faces), max(6, int(size))) if faces else None

    def T(self, st: Style) -> Text:
        return text_for(self.lang, st.face, self.script)

    def lead(self, st: Style, k: float = 1.3) -> int:
        return int(max(st.size * k * self.script.tall, (st.asc + st.desc) * 1.12))

    # numbers -------------------------------------------------------------
    def num(self, st: Style, s: str) -> tuple[str, Style]:
        """A number string for this page (native digits sometimes) and a style that draws it."""
        if self.script.name == "arabic":
            digits = _DIGITS_FA if self.lang.code in ("fa", "ur", "ps", "ckb", "sd", "ug", "az_IR") else _DIGITS_AR
            if st.face.covers(digits) and self.rng.random() < 0.5:
                s = s.translate(str.maketrans("0123456789", digits))
        if st.face.covers(s):
            return s, st
        if self._num_face is None:
            regular = [f for f in self.gen.fonts.ascii_text if not f.italic and abs(f.weight - 400) <= 100]
            self._num_face = self.rng.choice(regular or self.gen.fonts.ascii_text or [st.face])
        if self._num_face.covers(s):
            return s, Style(self._num_face, st.size, st.sample)
        return "".join(c for c in s if st.face.has(c)), st

    def draw_num(self, x, y, s, st, fill=None, align="start"):
        s, st2 = self.num(st, s)
        self.cv.text(x, y, s, st2, fill, align, ltr=True)

    def fits(self, st: Style, s: str, width: float) -> str:
        """``s`` cut (at pieces) to fit ``width``."""
        if self.cv.tw(st, s) <= width:
            return s
        lines = self.cv.wrap(st, s, width)
        return lines[0].text if lines else ""

    def phrase_fit(self, st: Style, width: float, max_chars: int = 30) -> str:
        T = self.T(st)
        for _ in range(8):
            s = T.phrase(self.rng, max_chars)
            if self.cv.tw(st, s) <= width:
                return s
        return self.fits(st, T.phrase(self.rng, max_chars), width)


@dataclass
class Column:
    """What every block of one page's text column shares (a layout's dataclass extends it): the
    page, its text, the column's left and right edges, its bottom and the body size."""
    pg: Page
    T: Text
    x0: float
    x1: float
    y1: float
    size: float
