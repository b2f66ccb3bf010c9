"""The form layout: a title, then sections of rows (fields, check boxes, digit combs, text),
some filled in by hand, and a signature line.  Each kind of row is one function of :data:`ROWS`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..elements import figure, fmt_number, margins
from ..fonts import Style
from ..page import Column, Page
from ..text import Text


@dataclass
class Form(Column):
    """What every row of one form shares: its width, bottom, styles, rules and the hand that fills it."""
    bold: Style
    small: Style
    hand: Style
    line: int
    lw: int
    row_h: int
    label_above: bool
    boxed: bool
    fill_p: float
    hand_ink: int


def lay_form(pg: Page):
    r = pg.rng
    size, body, bold, T = pg.body(11, 16)
    hand = pg.hand(size * r.uniform(1.1, 1.5))
    x0, y0, x1, y1 = margins(pg, 0.04, 0.09)
    line = pg.gray(r.uniform(0.6, 1.0))
    lw = max(1, int(pg.u * r.choice([1, 1, 2])))
    small = body.at(size * 0.8)
    y, y1 = _form_id(pg, small, size, x0, y0, x1, y1)
    y = _title(pg, T, bold, small, size, x0, x1, y, y1)
    f = Form(pg, T, x0, x1, y1, size, bold, small, hand, line, lw, row_h=int(size * r.uniform(2.6, 3.6)),
             label_above=r.random() < 0.5, boxed=r.random() < 0.6, fill_p=r.uniform(0.2, 0.8),
             hand_ink=pg.gray(r.uniform(0.7, 0.95)))
    section_bar = r.random() < 0.5
    while y < y1 - 3 * f.row_h:
        y = _section_head(f, y, section_bar)
        for _ in range(r.randint(2, 6)):
            if y > y1 - f.row_h:
                break
            y = ROWS[r.choices(ROW_KINDS, ROW_WEIGHTS)[0]](f, y)
        y += size * 0.8
    _signature(f, y)


def _form_id(pg: Page, small: Style, size: float, x0, y0, x1, y1) -> tuple[float, float]:
    """Half the forms carry an id in a corner, top or bottom; returns the top of the content and
    its bottom."""
    r = pg.rng
    y = y0
    if r.random() < 0.5:
        code = f"{r.choice('ABCDEFGHKLMPRSTVWXYZ')}{r.randint(1, 999)}-{r.randint(1, 99)}"
        yy = y0 + small.asc if r.random() < 0.5 else y1 - small.desc
        pg.draw_num(r.choice([x0, x1]), yy, code, small, align=r.choice(["start", "end"]))
        if yy < (y0 + y1) / 2:
            y += pg.lead(small) + size * 0.3
        else:
            y1 = int(yy - small.asc - size)
    return y, y1


def _title(pg: Page, T: Text, bold: Style, small: Style, size: float, x0, x1, y, y1) -> float:
    """The title (a logo beside it sometimes) and an explanatory sentence under it sometimes."""
    r, cv = pg.rng, pg.cv
    title = bold.at(size * r.uniform(1.5, 2.4))
    tal = r.choice(["start", "center"])
    if r.random() < 0.3:
        lw_ = size * 4
        figure(pg, x1 - lw_, y, x1, y + lw_ * 0.7)
    y = cv.paragraph(T.phrase(r, 50, 6), x0, x1 - (size * 5 if tal == "start" else 0), y, title, pg.lead(title, 1.1),
                     align=tal) + size * 0.8
    if r.random() < 0.5:
        y = cv.paragraph(T.sentence(r), x0, x1, y, small, pg.lead(small, 1.2), max_y=y1) + size * 0.8
    return y


def _section_head(f: Form, y: float, bar: bool) -> float:
    """A section's heading: on a shaded bar, or over a rule."""
    pg, size, x0 = f.pg, f.size, f.x0
    r, cv = pg.rng, pg.cv
    hd = f.bold.at(size * 1.1)
    if bar:
        cv.rect(x0, y, f.x1, y + pg.lead(hd) + size * 0.4, fill=pg.gray(r.uniform(0.1, 0.25)))
        cv.text(x0 + size * 0.4, y + size * 0.2 + hd.asc, f.T.phrase(r, 50), hd)
        y += pg.lead(hd) + size * 1.0
    else:
        cv.text(x0, y + hd.asc, f.T.phrase(r, 50), hd)
        y += pg.lead(hd)
        cv.hline(x0, f.x1, y, f.line, f.lw)
        y += size * 0.8
    return y


def _fields(f: Form, y: float) -> float:
    """A row of one to three labelled fields (label above or before a box or a rule), some filled
    in by hand."""
    pg, size, small, x0, x1, row_h = f.pg, f.size, f.small, f.x0, f.x1, f.row_h
    r, cv = pg.rng, pg.cv
    n = r.choice([1, 1, 2, 2, 3])
    gap = size * 1.2
    fw = (x1 - x0 - gap * (n - 1)) / n
    for k in range(n):
        fx0 = x0 + k * (fw + gap)
        label = pg.phrase_fit(small, fw * (0.95 if f.label_above else 0.4), 26)
        if f.label_above:
            cv.text(fx0, y + small.asc, label, small)
            by0, bx0 = y + pg.lead(small, 1.1), fx0
        else:
            cv.text(fx0, y + row_h * 0.62, label, small)
            by0, bx0 = y + row_h * 0.62 - size * 1.3, fx0 + cv.tw(small, label) + size * 0.5
        by1 = y + row_h * 0.62 + size * 0.45
        if f.boxed:
            cv.rect(bx0, by0, fx0 + fw, by1, outline=f.line, width=f.lw)
        else:
            cv.hline(bx0, fx0 + fw, by1, f.line, f.lw)
        if r.random() < f.fill_p and fx0 + fw - bx0 > size * 3:
            _fill_field(f, bx0, fx0 + fw, by1)
    return y + row_h


def _fill_field(f: Form, bx0: float, bx1: float, by1: float):
    """A handwritten value (a number sometimes) on a field's baseline."""
    pg, size, hand = f.pg, f.size, f.hand
    r, cv = pg.rng, pg.cv
    val = (fmt_number(r, r.choice(["date", "int", "money"])) if r.random() < 0.35
           else pg.phrase_fit(hand, bx1 - bx0 - size, 24))
    isnum = val[:1].isdigit()
    val, hst = pg.num(hand, val) if isnum else (val, hand)
    lns = cv.wrap(hst, val, bx1 - bx0 - size)
    if lns:
        cv.text_tilted(bx0 + size * 0.4, by1 - size * 0.35, lns[0], hst, f.hand_ink,
                       r.uniform(-2, 2), hst.size * 0.05, r, ltr=isnum)


def _checks(f: Form, y: float) -> float:
    """A question and two to five check boxes, some ticked or crossed by hand."""
    pg, size, small, x0, x1 = f.pg, f.size, f.small, f.x0, f.x1
    r, cv = pg.rng, pg.cv
    cv.text(x0, y + small.asc + size * 0.2, pg.phrase_fit(small, (x1 - x0) * 0.3, 30), small)
    xx = x0 + (x1 - x0) * 0.33
    bs = size * 0.95
    for _ in range(r.randint(2, 5)):
        opt = pg.phrase_fit(small, (x1 - x0) * 0.18, 16)
        need = bs + size * 0.5 + cv.tw(small, opt) + size * 1.5
        if xx + need > x1:
            break
        by = y + size * 0.2
        cv.rect(xx, by, xx + bs, by + bs, outline=f.line, width=f.lw)
        if r.random() < 0.35:
            _tick(f, xx, by, bs)
        cv.text(xx + bs + size * 0.5, by + bs * 0.85, opt, small)
        xx += need
    return y + int(size * 2.2)


def _tick(f: Form, xx: float, by: float, bs: float):
    """A cross or a tick in the box of side ``bs`` at (``xx``, ``by``)."""
    r, cv = f.pg.rng, f.pg.cv
    ck = max(1, int(f.hand.size * 0.12))
    if r.random() < 0.5:
        for a, b in ((0.15, 0.85), (0.85, 0.15)):   # a cross
            cv.poly([(xx + bs * a, by + bs * 0.15), (xx + bs * b, by + bs * 0.85)], outline=f.hand_ink, width=ck)
    else:
        cv.poly([(xx + bs * 0.1, by + bs * 0.5), (xx + bs * 0.4, by + bs * 0.9),
                 (xx + bs * 1.1, by - bs * 0.2)], outline=f.hand_ink, width=ck)


def _comb(f: Form, y: float) -> float:
    """A label and a comb of digit boxes (a date), filled in by hand sometimes."""
    pg, size, small, x0, x1 = f.pg, f.size, f.small, f.x0, f.x1
    r, cv = pg.rng, pg.cv
    label = pg.phrase_fit(small, (x1 - x0) * 0.3, 24)
    cv.text(x0, y + size * 1.3, label, small)
    xx = x0 + max(cv.tw(small, label) + size, (x1 - x0) * 0.33)
    cw = size * 1.5
    digits = fmt_number(r, "date").replace(".", "").replace("-", "").replace("/", "")
    filled = r.random() < f.fill_p
    for k, dch in enumerate(digits[:12]):
        if xx + cw > x1:
            break
        cv.rect(xx, y, xx + cw, y + cw * 1.2, outline=f.line, width=f.lw)
        if filled:
            pg.draw_num(xx + cw / 2, y + cw * 0.95, dch, f.hand.at(size * 1.1), fill=f.hand_ink, align="center")
        xx += cw + (size * 0.6 if k in (1, 3) else 0)
    return y + int(cw * 1.2 + size * 1.2)


def _text(f: Form, y: float) -> float:
    """A sentence of small print."""
    pg, small = f.pg, f.small
    return pg.cv.paragraph(f.T.sentence(pg.rng), f.x0, f.x1, y, small, pg.lead(small, 1.2), max_y=f.y1) + f.size * 0.6


ROWS: dict[str, Callable[[Form, float], float]] = {"fields": _fields, "checks": _checks, "comb": _comb, "text": _text}
ROW_KINDS = list(ROWS)
ROW_WEIGHTS = [5, 2, 1, 1]   # in the order of ROWS


def _signature(f: Form, y: float):
    """Most forms end on a signature line, signed by hand sometimes."""
    pg, size, small, x0, x1 = f.pg, f.size, f.small, f.x0, f.x1
    r, cv = pg.rng, pg.cv
    if y < f.y1 - size * 3 and r.random() < 0.7:
        sx0 = x1 - (x1 - x0) * 0.4 if r.random() < 0.6 else x0
        cv.hline(sx0, sx0 + (x1 - x0) * 0.4, y + size * 2.2, f.line, f.lw)
        cv.text(sx0, y + size * 2.2 + small.asc + 2, pg.phrase_fit(small, (x1 - x0) * 0.4), small)
        if r.random() < f.fill_p:
            sig = pg.hand(size * 2)
            lns = cv.wrap(sig, pg.phrase_fit(sig, (x1 - x0) * 0.35, 18), (x1 - x0) * 0.38)
            if lns:
                cv.text_tilted(sx0 + size, y + size * 1.9, lns[0], sig, f.hand_ink, r.uniform(-5, 5), sig.size * 0.06,
                               r)
