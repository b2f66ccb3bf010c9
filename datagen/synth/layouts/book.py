"""The book layout."""
from __future__ import annotations

from ..elements import caption, figure, furniture, margins
from ..page import Page


def lay_book(pg: Page):
    r, cv = pg.rng, pg.cv
    size, body, bold, T = pg.body(12, 21)
    x0, y0, x1, y1 = furniture(pg, margins(pg, 0.06, 0.13), body, p_head=0.7, p_foot=0.25, p_num=0.9)
    lead = pg.lead(body, r.uniform(1.15, 1.45))
    justify = r.random() < 0.75
    indent_par = r.random() < 0.7
    y = y0
    if r.random() < 0.25:   # chapter opening
        y += int((y1 - y0) * r.uniform(0.05, 0.25))
        if r.random() < 0.5:
            pg.draw_num(x0 if r.random() < 0.5 else (x0 + x1) / 2, y + bold.asc, str(r.randint(1, 30)),
                        bold.at(size * 1.8), align="start")
            y += int(size * 2.6)
        h = bold.at(size * r.uniform(1.5, 2.4))
        y = cv.paragraph(T.phrase(r, 40), x0, x1, y, h, pg.lead(h, 1.2), align=r.choice(["start", "center"])) + size
    fig_at = r.random() < 0.2 and int(r.uniform(0.2, 0.7) * (y1 - y0)) + y0
    foot = r.random() < 0.15
    if foot:
        small = body.at(size * 0.8)
        fy = y1 - 3 * pg.lead(small, 1.2)
        cv.hline(x0, x0 + (x1 - x0) * 0.3, fy - small.size * 0.5, pg.gray(0.8))
        cv.paragraph(T.sentence(r), x0, x1, fy, small, pg.lead(small, 1.2), max_y=y1)
        y1 = int(fy - small.size * 1.2)
    while y + lead < y1:
        if fig_at and y >= fig_at:
            fw = (x1 - x0) * r.uniform(0.5, 1.0)
            fx = x0 + ((x1 - x0) - fw) * r.choice([0, 0.5, 1])
            fh = (y1 - y0) * r.uniform(0.15, 0.3)
            if y + fh + 3 * lead > y1:
                fig_at = False
                continue
            figure(pg, fx, y, fx + fw, y + fh, body)
            y = caption(pg, fx, fx + fw, y + fh + size * 0.6, body) + size * 0.5
            fig_at = False
            continue
        if r.random() < 0.08:
            y += lead * 0.6
            y = cv.paragraph(T.phrase(r, 50), x0, x1, y, bold.at(size * 1.15), lead, max_y=y1) + lead * 0.3
            continue
        y = cv.paragraph(T.paragraph(r, r.randint(2, 7)), x0, x1, y, body, lead, "justify" if justify else "start",
                         indent=size * 1.8 if indent_par else 0, max_y=y1)
        if not indent_par:
            y += lead * 0.5
        if r.random() < 0.03:  # end of a chapter: the rest of the page stays empty
            break
