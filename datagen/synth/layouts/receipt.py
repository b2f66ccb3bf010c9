"""The receipt layout."""
from __future__ import annotations

from ..elements import fmt_number, margins
from ..fonts import Style
from ..page import Page


def lay_receipt(pg: Page):
    r, cv = pg.rng, pg.cv
    x0, y0, x1, y1 = margins(pg, 0.05, 0.09)
    chars = r.randint(26, 40)
    mono = pg.mono(10)
    size = (x1 - x0) / (chars * max(0.45, cv.tw(mono.at(100), "0") / 100))
    body = mono.at(size)
    bold = pg.family_style(body.face.role, size, bold=True, family=body.face.family) or body
    lead = pg.lead(body, r.uniform(1.15, 1.4))
    y = y0 + body.asc
    upper = r.random() < 0.5      # till rolls often print capitals only

    def U(st: Style, s: str) -> str:
        return s.upper() if upper and st.face.covers(s.upper()) else s

    big = bold.at(size * r.uniform(1.4, 2.0))
    cv.text((x0 + x1) / 2, y + big.asc - body.asc, U(big, pg.phrase_fit(big, (x1 - x0) * 0.8, 20)), big, align="center")
    y += pg.lead(big)
    for _ in range(r.randint(1, 3)):
        cv.text((x0 + x1) / 2, y, U(body, pg.phrase_fit(body, (x1 - x0) * 0.8, 30)), body, align="center")
        y += lead
    pg.draw_num(x0, y, fmt_number(r, "date"), body)
    pg.draw_num(x1, y, f"{r.randint(6, 22):02d}:{r.randint(0, 59):02d}", body, align="end")
    y += lead

    def sep():
        nonlocal y
        if body.face.covers("-=") and r.random() < 0.6:
            ch = r.choice("-=")
            n = max(1, int((x1 - x0) / max(1, cv.tw(body, ch))))
            cv.text(x0, y, ch * n, body)
        else:
            dash = size * 0.6
            xx = x0
            while xx < x1:
                cv.hline(xx, min(x1, xx + dash), y - size * 0.3, cv.ink)
                xx += dash * 1.8
        y += lead

    sep()
    bottom_h = lead * 8
    while y < y1 - bottom_h - lead * 4:
        name = U(body, pg.phrase_fit(body, (x1 - x0) * 0.55, 24))
        cv.text(x0, y, pg.fits(body, name, (x1 - x0) * 0.65), body)
        pg.draw_num(x1, y, f"{r.uniform(0.2, 99):.2f}", body, align="end")
        y += lead
        if r.random() < 0.2:
            pg.draw_num(x0 + size * 2, y, f"{r.randint(2, 9)} x {r.uniform(0.2, 20):.2f}", body)
            y += lead
        if r.random() < 0.03:
            break
    sep()
    for k in range(r.randint(1, 3)):
        st = bold.at(size * (1.4 if k == 0 else 1.0)) if k == 0 else body
        cv.text(x0, y, pg.fits(st, U(st, pg.phrase_fit(st, (x1 - x0) * 0.45, 16)), (x1 - x0) * 0.55), st)
        pg.draw_num(x1, y, f"{r.uniform(5, 999):.2f}", st, align="end")
        y += pg.lead(st, 1.3)
    sep()
    cv.text((x0 + x1) / 2, y, U(body, pg.phrase_fit(body, (x1 - x0) * 0.9, 30)), body, align="center")
    y += lead
    if r.random() < 0.6 and y < y1 - size * 4:
        bh = min(size * 4, y1 - y)
        xx = x0 + (x1 - x0) * 0.1
        while xx < x1 - (x1 - x0) * 0.1:
            w = r.choice([1, 1, 2, 3]) * max(1, pg.u)
            cv.rect(xx, y, xx + w, y + bh, fill=cv.ink)
            xx += w + r.choice([1, 2, 3]) * max(1, pg.u)
