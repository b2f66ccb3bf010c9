"""Elements several layouts share: margins, page furniture, figures, captions, bullets, numbers."""
from __future__ import annotations

import random
from functools import partial
from typing import Callable

from .fonts import Style
from .page import Page


def margins(pg: Page, lo: float = 0.05, hi: float = 0.12) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the text block, each margin drawn independently."""
    r = pg.rng
    s = min(pg.w, pg.h)
    return (int(s * r.uniform(lo, hi)), int(s * r.uniform(lo, hi)),
            pg.w - int(s * r.uniform(lo, hi)), pg.h - int(s * r.uniform(lo, hi)))


def furniture(pg: Page, box: tuple[int, int, int, int], st: Style, p_head=0.55, p_foot=0.4, p_num=0.8,
              number: int | None = None) -> tuple[int, int, int, int]:
    """Running head, footer and page number around ``box``; returns the box left for content.
    Positions are drawn at random: header/footer/number each top or bottom, start/centre/end."""
    r, cv = pg.rng, pg.cv
    x0, y0, x1, y1 = box
    small = st.at(st.size * r.uniform(0.75, 0.95))
    lead = pg.lead(small, 1.2)
    T = pg.T(small)
    rule = r.random() < 0.5
    slots = {"top": [], "bottom": []}
    if r.random() < p_head:
        slots["top" if r.random() < 0.8 else "bottom"].append(("text", T.phrase(r, 50)))
    if r.random() < p_foot:
        slots["bottom" if r.random() < 0.8 else "top"].append(("text", T.phrase(r, 60)))
    if r.random() < p_num:
        n = number if number is not None else r.randint(1, 480)
        fmt = r.choice(["{}", "{}", "{}", "- {} -", "— {} —", "{} / %d" % (n + r.randint(0, 30)), "[{}]"])
        slots[r.choice(["top", "bottom"])].append(("num", fmt.format(n)))
    for where, items in slots.items():
        if not items:
            continue
        aligns = ["start", "center", "end"]
        r.shuffle(aligns)
        if where == "top":
            base = y0 + small.asc
            y0 = int(y0 + lead + small.size * r.uniform(0.6, 1.6))
            rule_y = base + small.desc + small.size * 0.3
        else:
            base = y1 - small.desc
            y1 = int(y1 - lead - small.size * r.uniform(0.6, 1.6))
            rule_y = base - small.asc - small.size * 0.3
        for (kind, s), al in zip(items, aligns):
            x = {"start": x0, "center": (x0 + x1) / 2, "end": x1}[al]
            s = pg.fits(small, s, (x1 - x0) * (0.45 if len(items) > 1 else 0.9))
            if kind == "num":
                pg.draw_num(x, base, s, small, align=al)
            else:
                cv.text(x, base, s, small, align=al)
        if rule:
            cv.hline(x0, x1, rule_y, pg.gray(r.uniform(0.5, 1)), max(1, int(pg.u * r.choice([1, 1, 2]))))
    return x0, y0, x1, y1


def figure(pg: Page, x0: float, y0: float, x1: float, y1: float, st: Style | None = None):
    """A figure: gray box, drawn shapes, bar/line/pie chart, or a photo-like block (one function
    of :data:`FIGURES` each)."""
    r = pg.rng
    x0, y0, x1, y1 = int(x0), int(y0), int(x1), int(y1)
    if x1 - x0 < 20 or y1 - y0 < 20:
        return
    kind = r.choice(FIGURE_KINDS)
    line = pg.gray(r.uniform(0.6, 1.0))
    lw = max(1, int(pg.u * r.uniform(1, 2.5)))
    FIGURES[kind](pg, (x0, y0, x1, y1), line, lw, st)


def _fig_box(pg: Page, box, line: int, lw: int, st: Style | None):
    """A gray box, framed sometimes, crossed sometimes (a placeholder)."""
    r, cv = pg.rng, pg.cv
    x0, y0, x1, y1 = box
    cv.rect(x0, y0, x1, y1, fill=pg.gray(r.uniform(0.15, 0.7)), outline=line if r.random() < 0.5 else None)
    if r.random() < 0.4:
        cv.poly([(x0, y0), (x1, y1)], outline=pg.gray(0.9), width=lw)
        cv.poly([(x0, y1), (x1, y0)], outline=pg.gray(0.9), width=lw)


def _fig_photo(pg: Page, box, line: int, lw: int, st: Style | None):
    """Blobs of gray on gray in a frame: a photograph at a glance."""
    r, cv = pg.rng, pg.cv
    x0, y0, x1, y1 = box
    cv.rect(x0, y0, x1, y1, fill=pg.gray(r.uniform(0.2, 0.5)))
    for _ in range(r.randint(3, 9)):
        w, h = (x1 - x0) * r.uniform(0.1, 0.5), (y1 - y0) * r.uniform(0.1, 0.5)
        cx, cy = r.uniform(x0, x1 - w), r.uniform(y0, y1 - h)
        (cv.ellipse if r.random() < 0.5 else cv.rect)(cx, cy, cx + w, cy + h, fill=pg.gray(r.uniform(0.1, 0.95)))
    cv.rect(x0, y0, x1, y1, outline=line, width=lw)


def _fig_shapes(pg: Page, box, line: int, lw: int, st: Style | None):
    """Rectangles, ellipses and triangles, framed sometimes: a diagram."""
    r, cv = pg.rng, pg.cv
    x0, y0, x1, y1 = box
    if r.random() < 0.6:
        cv.rect(x0, y0, x1, y1, outline=line, width=lw)
    for _ in range(r.randint(2, 6)):
        w = (x1 - x0) * r.uniform(0.15, 0.4)
        h = (y1 - y0) * r.uniform(0.15, 0.4)
        cx, cy = r.uniform(x0 + 4, x1 - w - 4), r.uniform(y0 + 4, y1 - h - 4)
        fill = pg.gray(r.uniform(0.1, 0.9)) if r.random() < 0.5 else None
        k = r.randrange(3)
        if k == 0:
            cv.rect(cx, cy, cx + w, cy + h, fill=fill, outline=line, width=lw)
        elif k == 1:
            cv.ellipse(cx, cy, cx + w, cy + h, fill=fill, outline=line, width=lw)
        else:
            cv.poly([(cx, cy + h), (cx + w / 2, cy), (cx + w, cy + h)], fill=fill, outline=line, width=lw,
                    closed=True)


def _plot_area(box) -> tuple[int, int, int, int]:
    """The chart's area inside the figure's box: room for the axis labels left and under it."""
    x0, y0, x1, y1 = box
    pad = int(min(x1 - x0, y1 - y0) * 0.12)
    return x0 + pad, y0 + pad // 2, x1 - pad // 2, y1 - pad


def _fig_pie(pg: Page, box, line: int, lw: int, st: Style | None):
    """A pie chart of two to six slices."""
    r, cv = pg.rng, pg.cv
    ax0, ay0, ax1, ay1 = _plot_area(box)
    d = min(ax1 - ax0, ay1 - ay0)
    cx, cy = (ax0 + ax1) / 2, (ay0 + ay1) / 2
    a = r.uniform(0, 360)
    for _ in range(r.randint(2, 6)):
        b = a + r.uniform(30, 140)
        cv.pieslice(cx - d / 2, cy - d / 2, cx + d / 2, cy + d / 2, a, min(b, a + 359),
                    fill=pg.gray(r.uniform(0.15, 0.95)), outline=pg.cv.paper)
        a = b
        if a > 360 + 300:
            break


def _fig_chart(pg: Page, box, line: int, lw: int, st: Style | None, bars: bool):
    """Axes, then bars or one to three lines of 4 to 12 values, with numbers under the axis where
    ``st`` is given."""
    r, cv = pg.rng, pg.cv
    ax0, ay0, ax1, ay1 = _plot_area(box)
    cv.poly([(ax0, ay0), (ax0, ay1), (ax1, ay1)], outline=line, width=lw)
    n = r.randint(4, 12)
    vals = [r.uniform(0.1, 1) for _ in range(n)]
    step = (ax1 - ax0) / n
    if bars:
        for i, v in enumerate(vals):
            bx = ax0 + i * step + step * 0.15
            cv.rect(bx, ay1 - v * (ay1 - ay0), bx + step * 0.7, ay1, fill=pg.gray(r.uniform(0.3, 0.9)))
    else:
        for _ in range(r.randint(1, 3)):
            vals = [r.uniform(0.1, 1) for _ in range(n)]
            cv.poly([(ax0 + (i + 0.5) * step, ay1 - v * (ay1 - ay0)) for i, v in enumerate(vals)],
                    outline=pg.gray(r.uniform(0.5, 1)), width=lw)
    if st is not None:
        small = st.at(max(7, st.size * 0.7))
        for i in range(0, n, max(1, n // 5)):
            pg.draw_num(ax0 + (i + 0.5) * step, ay1 + small.asc + 2, str(r.choice([i + 1, 2000 + i, 10 * i])),
                        small, fill=pg.gray(0.8), align="center")


FIGURES: dict[str, Callable[[Page, tuple[int, int, int, int], int, int, Style | None], None]] = {
    "box": _fig_box, "shapes": _fig_shapes, "bars": partial(_fig_chart, bars=True),
    "lines": partial(_fig_chart, bars=False), "pie": _fig_pie, "photo": _fig_photo}
FIGURE_KINDS = list(FIGURES)   # the order the draw picks from


def caption(pg: Page, x0, x1, y, st: Style) -> float:
    small = st.at(st.size * pg.rng.uniform(0.8, 0.95))
    return pg.cv.paragraph(pg.T(small).sentence(pg.rng), x0, x1, y, small, pg.lead(small, 1.2),
                           align=pg.rng.choice(["start", "center"]), max_y=pg.h)


def bullet(pg: Page, x: float, base: float, st: Style, kind: str, fill=None):
    """A list marker drawn as a shape, centred on the x-height of the line at ``base``."""
    r = max(2.0, st.size * 0.16)
    cy = base - st.size * 0.33
    fill = pg.cv.ink if fill is None else fill
    if kind == "disc":
        pg.cv.ellipse(x - r, cy - r, x + r, cy + r, fill=fill)
    elif kind == "circle":
        pg.cv.ellipse(x - r, cy - r, x + r, cy + r, outline=fill, width=max(1, r / 3))
    elif kind == "square":
        pg.cv.rect(x - r, cy - r, x + r, cy + r, fill=fill)
    else:
        pg.cv.hline(x - 1.6 * r, x + 1.6 * r, cy, fill, max(1, r / 2))


def fmt_number(r: random.Random, kind: str | None = None) -> str:
    kind = kind or r.choice(["int", "dec", "money", "pct", "date", "big"])
    if kind == "int":
        return str(r.randint(0, 999))
    if kind == "dec":
        return f"{r.uniform(0, 100):.{r.randint(1, 3)}f}"
    if kind == "money":
        v = r.uniform(0.5, 9999)
        s = f"{v:,.2f}"
        return s if r.random() < 0.5 else s.replace(",", " ").replace(".", ",")
    if kind == "pct":
        return f"{r.uniform(0, 100):.1f} %"
    if kind == "date":
        y, m, d = r.randint(1990, 2026), r.randint(1, 12), r.randint(1, 28)
        return r.choice([f"{d:02d}.{m:02d}.{y}", f"{y}-{m:02d}-{d:02d}", f"{m}/{d}/{y}",
                         f"{d:02d}/{m:02d}/{y % 100:02d}"])
    return f"{r.randint(1000, 9999999):,}"
