"""The letter layout."""
from __future__ import annotations

from ..elements import figure, fmt_number, margins
from ..page import Page


def lay_letter(pg: Page):
    r, cv = pg.rng, pg.cv
    size, body, bold, T = pg.body(13, 19)
    x0, y0, x1, y1 = margins(pg, 0.08, 0.14)
    lead = pg.lead(body, r.uniform(1.2, 1.5))
    small = body.at(size * 0.8)
    y = y0
    if r.random() < 0.7:   # letterhead
        al = r.choice(["start", "center", "end"])
        xa = {"start": x0, "center": (x0 + x1) / 2, "end": x1}[al]
        if r.random() < 0.4:
            lw = size * r.uniform(3, 5)
            lx = x0 if al != "end" else x1 - lw
            if al == "center":
                lx = (x0 + x1 - lw) / 2
            figure(pg, lx, y, lx + lw, y + lw * r.uniform(0.5, 1))
            y += lw + size * 0.5
        hd = bold.at(size * r.uniform(1.4, 2.3))
        cv.text(xa, y + hd.asc, pg.phrase_fit(hd, x1 - x0, 36), hd, align=al)
        y += pg.lead(hd)
        for _ in range(r.randint(1, 3)):
            cv.text(xa, y + small.asc, pg.phrase_fit(small, x1 - x0), small, align=al)
            y += pg.lead(small, 1.2)
        if r.random() < 0.6:
            cv.hline(x0, x1, y + size * 0.3, pg.gray(0.8), max(1, pg.u * r.choice([1, 2])))
        y += size * 2
    # recipient block and date
    rec_end = r.random() < 0.25
    date_start = r.random() < 0.4
    yy = y
    for k in range(r.randint(3, 5)):
        s = pg.phrase_fit(body, (x1 - x0) * 0.4, 24)
        num = str(r.randint(1, 99999))
        if k >= 1 and r.random() < 0.6 and body.face.covers(num):
            s = f"{num} {s}" if r.random() < 0.5 else f"{s} {num}"
        cv.text(x1 if rec_end else x0, yy + body.asc, s, body, align="end" if rec_end else "start")
        yy += lead
    y = yy + lead
    date = fmt_number(r, "date")
    if date_start:
        pg.draw_num(x0, y + body.asc, date, body)
    else:
        pg.draw_num(x1, (y if not rec_end else y0 + (y - y0) * 0.1) + body.asc, date, body, align="end")
    y += lead * 2
    if r.random() < 0.6:
        y = cv.paragraph(T.phrase(r, 60), x0, x1, y, bold, lead) + lead * 0.5
    cv.text(x0, y + body.asc, T.phrase(r, 30) + ("," if body.face.has(",") and not pg.script.rtl else ""), body)
    y += lead * 1.6
    justify = r.random() < 0.25
    foot_h = 3 * size if r.random() < 0.4 else 0
    sig_h = size * 6
    for _ in range(r.randint(2, 7)):
        if y > y1 - foot_h - sig_h - 3 * lead:
            break
        y = cv.paragraph(T.paragraph(r, r.randint(2, 5)), x0, x1, y, body, lead, "justify" if justify else "start",
                         max_y=y1 - foot_h - sig_h) + lead * 0.6
    y += lead * 0.5
    sig_x = x0 if r.random() < 0.7 else (x0 + x1) / 2
    cv.text(sig_x, y + body.asc, T.phrase(r, 30), body)
    y += lead * 1.2
    hand = pg.hand(size * r.uniform(1.8, 2.8))
    name = pg.phrase_fit(hand, (x1 - x0) * 0.5, 22)
    lns = cv.wrap(hand, name, (x1 - x0) * 0.6)
    if lns:
        cv.text_tilted(sig_x + size, y + hand.asc, lns[0], hand, pg.gray(r.uniform(0.75, 1.0)), r.uniform(-6, 6),
                       hand.size * 0.06, r)
    y += hand.asc + hand.desc + size * 0.3
    cv.text(sig_x, y + body.asc, pg.phrase_fit(body, (x1 - x0) * 0.5), body)
    if foot_h:
        fy = pg.h - (pg.h - y1) * 0.5 - small.desc
        cv.hline(x0, x1, fy - small.asc - size * 0.4, pg.gray(0.6))
        al = r.choice(["start", "center"])
        cv.text(x0 if al == "start" else (x0 + x1) / 2, fy, pg.phrase_fit(small, x1 - x0, 60), small, align=al)
