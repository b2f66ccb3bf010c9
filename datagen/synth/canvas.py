"""The page being drawn: shapes and text in logical coordinates (mirrored on right-to-left pages)."""
from __future__ import annotations

import random

from PIL import Image, ImageDraw

from .fonts import _RAQM, _WIDTH_CACHE, Style
from .scripts import Script, _scripts_in, char_script
from .text import Line, clusters, units


class Canvas:
    """A page being drawn.  Coordinates are LOGICAL: x grows from the start edge, so a layout
    written for left-to-right text is mirrored as a whole on a right-to-left page."""

    def __init__(self, w: int, h: int, paper: int, ink: int, script: Script, lang: str, rtl_ok: bool):
        self.w, self.h, self.paper, self.ink = w, h, paper, ink
        self.script = script
        self.rtl = script.rtl
        self.direction = ("rtl" if self.rtl else "ltr") if _RAQM else None
        self.reverse = self.rtl and not _RAQM and rtl_ok   # no bidi engine: reverse the string
        self.language = lang.split("@")[0].split("_")[0] if _RAQM else None
        self.im = Image.new("L", (w, h), paper)
        self.d = ImageDraw.Draw(self.im)
        self.faces: set[str] = set()
        self.scripts: set[str] = set()

    # geometry -------------------------------------------------------------
    def mx(self, x0: float, x1: float) -> tuple[float, float]:
        return (self.w - x1, self.w - x0) if self.rtl else (x0, x1)

    def rect(self, x0, y0, x1, y1, fill=None, outline=None, width=1):
        a, b = self.mx(x0, x1)
        if b - a < 1 or y1 - y0 < 1:
            return
        self.d.rectangle([a, y0, b, y1], fill=fill, outline=outline, width=max(1, int(width)))

    def hline(self, x0, x1, y, fill, width=1):
        a, b = self.mx(x0, x1)
        self.d.line([(a, y), (b, y)], fill=fill, width=max(1, int(width)))

    def vline(self, x, y0, y1, fill, width=1):
        a, _ = self.mx(x, x)
        self.d.line([(a, y0), (a, y1)], fill=fill, width=max(1, int(width)))

    def poly(self, pts, fill=None, outline=None, width=1, closed=False):
        pts = [((self.w - x) if self.rtl else x, y) for x, y in pts]
        if closed:
            self.d.polygon(pts, fill=fill, outline=outline, width=max(1, int(width)))
        else:
            self.d.line(pts, fill=outline if outline is not None else fill, width=max(1, int(width)), joint="curve")

    def ellipse(self, x0, y0, x1, y1, fill=None, outline=None, width=1):
        a, b = self.mx(x0, x1)
        self.d.ellipse([a, y0, b, y1], fill=fill, outline=outline, width=max(1, int(width)))

    def pieslice(self, x0, y0, x1, y1, start, end, fill=None, outline=None):
        a, b = self.mx(x0, x1)
        self.d.pieslice([a, y0, b, y1], start, end, fill=fill, outline=outline)

    # text -----------------------------------------------------------------
    def tw(self, st: Style, s: str) -> float:
        key = (st.face.path, st.face.index, st.size, s)
        w = _WIDTH_CACHE.get(key)
        if w is None:
            if len(_WIDTH_CACHE) > 300_000:
                _WIDTH_CACHE.clear()
            w = _WIDTH_CACHE[key] = st.font.getlength(s, direction=self.direction, language=self.language)
        return w

    def text(self, x: float, y: float, s: str, st: Style, fill: int | None = None, align: str = "start",
             ltr: bool = False):
        """Draw ``s`` with its baseline at ``y``; ``x`` is the logical start (align=start),
        end (align=end) or centre (align=center).  ``ltr``: a number, drawn left to right even
        on a right-to-left page (no bidi reordering of its digit groups)."""
        if not s:
            return
        fill = self.ink if fill is None else fill
        anchor = {"start": "ls", "end": "rs", "center": "ms"}[align]
        X = x
        if self.rtl:
            X = self.w - x
            anchor = {"ls": "rs", "rs": "ls", "ms": "ms"}[anchor]
        s_draw = s[::-1] if self.reverse and not ltr else s
        self.d.text((X, y), s_draw, font=st.font, fill=fill, anchor=anchor,
                    direction="ltr" if ltr and self.direction else self.direction, language=self.language)
        self.faces.add(st.face.name)
        self.scripts.update(_scripts_in(s))

    def wrap(self, st: Style, s: str, width: float, indent: float = 0) -> list[Line]:
        sw = self.tw(st, " ")
        lines: list[Line] = []
        cur: list[tuple[str, str]] = []
        cw = 0.0
        avail = width - indent
        todo = units(s, self.script)
        i = 0
        while i < len(todo):
            p, sep = todo[i]
            w = self.tw(st, p)
            if w > width and len(p) > 1:          # a piece longer than a line: break inside it
                parts = clusters(p)
                if len(parts) > 1:
                    todo[i:i + 1] = [(parts[0], sep)] + [(c, "") for c in parts[1:]]
                    continue
            add = w + (sw if cur and sep else 0)
            if cur and cw + add > avail:
                lines.append(Line(cur, cw))
                cur, cw, avail = [], 0.0, width
                add = w
            cur.append((p, sep))
            cw += add
            i += 1
        if cur:
            lines.append(Line(cur, cw))
        if lines:
            lines[-1].last = True
        return lines

    def draw_line(self, ln: Line, x0: float, x1: float, y: float, st: Style, align: str = "start",
                  fill: int | None = None, indent: float = 0):
        x0 = x0 + indent
        justifiable = (not ln.last and len(ln.pieces) > 1 and self.script.spaced and not self.reverse
                       and not (self.rtl and any(char_script(c) == "latin" or c.isdigit() for c in ln.text)))
        if align == "justify" and justifiable:
            sw = self.tw(st, " ")
            gaps = sum(1 for i, (_, sep) in enumerate(ln.pieces) if i and sep)
            extra = (x1 - x0 - ln.width) / gaps if gaps else 0
            if 0 <= extra <= 4 * sw + st.size * 0.5:
                self._justified(ln, x0, y, st, self.ink if fill is None else fill, sw, extra)
                return
        if align in ("start", "justify"):
            self.text(x0, y, ln.text, st, fill)
        elif align == "end":
            self.text(x1, y, ln.text, st, fill, align="end")
        else:
            self.text((x0 + x1) / 2, y, ln.text, st, fill, align="center")

    def _justified(self, ln: Line, x0: float, y: float, st: Style, fill: int, sw: float, extra: float):
        """Draw a justified line: render it once at natural spacing, cut the rendering in the
        middle of each space and paste the words ``extra`` px further apart each (one render
        instead of one per word, which costs a shaping call each)."""
        text = ln.text
        anchor = "rs" if self.rtl else "ls"
        l, t, r, b = st.font.getbbox(text, anchor=anchor, direction=self.direction, language=self.language)
        if r <= l or b <= t:
            return
        m = Image.new("L", (r - l, b - t), 0)
        ImageDraw.Draw(m).text((-l, -t), text, font=st.font, fill=255, anchor=anchor, direction=self.direction,
                               language=self.language)
        cuts: list[float] = []           # logical offsets (from the start edge) of the gaps' middles
        o = 0.0
        for i, (p, sep) in enumerate(ln.pieces):
            if i and sep:
                cuts.append(o + sw / 2)
                o += sw
            o += self.tw(st, p)
        X0 = self.w - x0 if self.rtl else x0
        Y = int(round(y)) + t
        bounds: list[float | None] = [None, *cuts, None]
        for j in range(len(bounds) - 1):
            a, c = bounds[j], bounds[j + 1]
            if self.rtl:      # logical offset o sits at mask column -o - l; later words shift left
                cl = 0 if c is None else int(round(-c)) - l
                cr = m.width if a is None else int(round(-a)) - l
                dx = X0 + l + cl - j * extra
            else:
                cl = 0 if a is None else int(round(a)) - l
                cr = m.width if c is None else int(round(c)) - l
                dx = X0 + l + cl + j * extra
            cl, cr = max(0, cl), min(m.width, cr)
            if cr > cl:
                seg = m.crop((cl, 0, cr, m.height))
                dx = int(round(dx))
                self.im.paste(fill, (dx, Y, dx + seg.width, Y + seg.height), seg)
        self.faces.add(st.face.name)
        self.scripts.update(_scripts_in(text))

    def paragraph(self, s: str, x0: float, x1: float, y: float, st: Style, lead: float, align: str = "start",
                  indent: float = 0, max_y: float | None = None, fill: int | None = None) -> float:
        """Wrap and draw ``s`` from top ``y``; returns the top of the next line.  Stops (drops the
        rest) at ``max_y``."""
        max_y = self.h if max_y is None else max_y
        base = y + st.asc
        for k, ln in enumerate(self.wrap(st, s, x1 - x0, indent)):
            if base + st.desc > max_y:
                break
            self.draw_line(ln, x0, x1, base, st, align, fill, indent if k == 0 else 0)
            base += lead
        return base - st.asc

    def text_tilted(self, x: float, y: float, ln: Line, st: Style, fill: int, angle: float, wobble: float,
                    rng: random.Random, ltr: bool = False):
        """Draw one line as handwriting: word baselines wander by ``wobble`` px, the line is
        turned by ``angle`` degrees (small) about its centre.  ``y`` is the baseline.  ``ltr``:
        a number, kept in one piece and left to right on a right-to-left page."""
        if ltr:
            ln = Line([(ln.text, "")], ln.width)
        pad = int(st.size * 0.6) + 2
        wd = int(ln.width + 2 * pad + st.size)
        ht = int(st.asc + st.desc + 2 * pad + 2 * wobble)
        mask = Image.new("L", (wd, ht), 0)
        md = ImageDraw.Draw(mask)
        sw = self.tw(st, " ")
        xx = pad
        dy = 0.0
        base = pad + wobble + st.asc
        for i, (p, sep) in enumerate(ln.pieces):
            if i and sep:
                xx += sw * rng.uniform(0.8, 1.4)
            dy = max(-wobble, min(wobble, dy + rng.uniform(-0.5, 0.5) * wobble))
            pw = self.tw(st, p)
            X, anchor = (wd - xx, "rs") if self.rtl else (xx, "ls")
            md.text((X, base + dy), p[::-1] if self.reverse and not ltr else p, font=st.font, fill=255, anchor=anchor,
                    direction="ltr" if ltr and self.direction else self.direction, language=self.language)
            xx += pw
        self.faces.add(st.face.name)
        self.scripts.update(_scripts_in(ln.text))
        if abs(angle) > 0.05:
            mask = mask.rotate(angle, resample=Image.Resampling.BICUBIC, expand=False)
        a, _ = self.mx(x - pad, x - pad + wd)
        self.im.paste(fill, (int(a), int(y - base), int(a) + wd, int(y - base) + ht), mask)
