"""The note layout."""
from __future__ import annotations

from ..elements import bullet, fmt_number, margins
from ..text import Line
from ..page import Page


def lay_note(pg: Page):
    r, cv = pg.rng, pg.cv
    size = r.uniform(22, 38) * pg.u
    hand = pg.hand(size)
    T = pg.T(hand)
    x0, y0, x1, y1 = margins(pg, 0.05, 0.1)
    lead = int(pg.lead(hand, r.uniform(1.35, 1.8)))
    paper = r.choice(["plain", "ruled", "ruled", "grid"])
    faint = pg.gray(r.uniform(0.15, 0.35))
    first_base = y0 + hand.asc + lead
    if paper == "ruled":
        yy = first_base + hand.desc * 0.3
        top = yy - lead
        while yy < pg.h:
            cv.hline(0, pg.w, yy, faint)
            yy += lead
        if r.random() < 0.6:
            mxp = x0 - size * 0.4
            cv.vline(mxp, 0, pg.h, pg.gray(r.uniform(0.3, 0.5)))
        if r.random() < 0.4:
            cv.hline(0, pg.w, top - lead * 0.5, pg.gray(0.4))
    elif paper == "grid":
        g = lead / 2
        yy = (first_base + hand.desc * 0.3) % g
        while yy < pg.h:
            cv.hline(0, pg.w, yy, faint)
            yy += g
        xx = g / 2
        while xx < pg.w:
            cv.vline(xx, 0, pg.h, faint)
            xx += g
    ink = pg.gray(r.uniform(0.7, 1.0))
    base = y0 + hand.asc
    # a date at the start or end of the top line
    date_al = r.choice(["start", "end"])
    d = fmt_number(r, "date")
    ds, dst = pg.num(hand, d)
    dl = cv.wrap(dst, ds, x1 - x0)
    if dl:
        dx = x0 if date_al == "start" else x1 - dl[0].width
        cv.text_tilted(dx, base, dl[0], dst, ink, r.uniform(-1.5, 1.5), size * 0.05, r, ltr=True)
    base += lead
    if r.random() < 0.5:  # underlined title
        t = cv.wrap(hand, T.phrase(r, 30), (x1 - x0) * 0.8)
        if t:
            tx = x0 + (x1 - x0 - t[0].width) / 2 if r.random() < 0.4 else x0
            cv.text_tilted(tx, base, t[0], hand, ink, r.uniform(-1.5, 1.5), size * 0.05, r)
            cv.poly([(tx + k * t[0].width / 6, base + hand.desc * 0.6 + r.uniform(-2, 2) * pg.u) for k in range(7)],
                    outline=ink, width=max(1, size * 0.07))
            base += lead
    listy = r.random() < 0.35
    stop = y1 if r.random() < 0.7 else y0 + (y1 - y0) * r.uniform(0.4, 0.8)
    while base + hand.desc < stop:
        s = T.phrase(r, 40) if listy or r.random() < 0.3 else T.sentence(r)
        ind = size * 1.2 if listy else 0
        rm = (x1 - x0) * r.uniform(0, 0.15)
        lines = cv.wrap(hand, s, x1 - x0 - ind - rm)
        if listy:
            bullet(pg, x0 + size * 0.4, base, hand, "dash", fill=ink)
        for ln in lines:
            if base + hand.desc > stop:
                break
            jitter = r.uniform(-0.3, 0.3) * size
            cv.text_tilted(x0 + ind + jitter, base, ln, hand, ink, r.uniform(-1.5, 1.5), size * r.uniform(0.03, 0.08),
                           r)
            if r.random() < 0.04 and len(ln.pieces) > 1:   # a crossed-out word
                k = r.randrange(len(ln.pieces))
                before = cv.tw(hand, Line(ln.pieces[:k], 0).text + (" " if k else ""))
                pw = cv.tw(hand, ln.pieces[k][0])
                yy = base - hand.size * 0.3
                cv.poly([(x0 + ind + jitter + before, yy + r.uniform(-2, 2)),
                         (x0 + ind + jitter + before + pw, yy + r.uniform(-2, 2))], outline=ink,
                        width=max(1, size * 0.08))
            base += lead
        if not listy and r.random() < 0.3:
            base += lead
