"""The article layout."""
from __future__ import annotations

from ..elements import caption, figure, fmt_number, furniture, margins
from ..page import Page


def lay_article(pg: Page):
    r, cv = pg.rng, pg.cv
    size, body, bold, T = pg.body(11, 17)
    x0, y0, x1, y1 = margins(pg, 0.03, 0.08)
    landscape = pg.w > pg.h
    if r.random() < 0.45:   # masthead
        mh = bold.at(size * r.uniform(3, 5.5))
        cv.hline(x0, x1, y0, pg.gray(1), max(1, 2 * pg.u))
        y = y0 + size * 0.5
        name = pg.phrase_fit(mh, x1 - x0, 24)
        cv.text((x0 + x1) / 2, y + mh.asc, name, mh, align="center")
        y += mh.asc + mh.desc + size * 0.4
        small = body.at(size * 0.85)
        cv.hline(x0, x1, y, pg.gray(1))
        pg.draw_num(x0, y + small.asc + 3, fmt_number(r, "date"), small)
        cv.text(x1, y + small.asc + 3, pg.phrase_fit(small, (x1 - x0) * 0.4), small, align="end")
        y += pg.lead(small) + 6
        cv.hline(x0, x1, y, pg.gray(1), max(1, 2 * pg.u))
        y0 = int(y + size)
    else:
        x0, y0, x1, y1 = furniture(pg, (x0, y0, x1, y1), body, p_head=0.6, p_foot=0.3, p_num=0.8)
    y = y0
    while y < y1 - 6 * size:
        ncol = r.choice([3, 3, 4, 5]) if landscape else r.choice([2, 2, 3, 3, 4])
        head = bold.at(size * r.uniform(1.8, 3.5))
        y = cv.paragraph(T.phrase(r, 60, 8), x0, x1, y, head, pg.lead(head, 1.1),
                         align=r.choice(["start", "start", "center"]), max_y=y1) + size * 0.4
        if r.random() < 0.5:
            deck = body.at(size * 1.3)
            y = cv.paragraph(T.sentence(r), x0, x1, y, deck, pg.lead(deck, 1.2), max_y=y1) + size * 0.4
        if r.random() < 0.5:
            by = bold.at(size * 0.85)
            cv.text(x0, y + by.asc, pg.phrase_fit(by, (x1 - x0) / 2), by)
            y += pg.lead(by) + size * 0.3
        story_h = (y1 - y) if r.random() < 0.65 else (y1 - y) * r.uniform(0.45, 0.65)
        gutter = size * r.uniform(1.2, 2.2)
        cw = (x1 - x0 - gutter * (ncol - 1)) / ncol
        ytop, ybot = y, y + story_h
        lead = pg.lead(body, r.uniform(1.1, 1.3))
        align = "justify" if r.random() < 0.65 else "start"
        rules = r.random() < 0.5
        fig_col = r.randrange(ncol) if r.random() < 0.35 else -1
        for c in range(ncol):
            cx0 = x0 + c * (cw + gutter)
            cx1 = cx0 + cw
            yy = ytop
            if c == fig_col:
                fh = story_h * r.uniform(0.2, 0.4)
                figure(pg, cx0, yy, cx1, yy + fh, body)
                yy = caption(pg, cx0, cx1, yy + fh + size * 0.4, body) + size * 0.6
            while yy + lead < ybot:
                if r.random() < 0.1 and yy > ytop:
                    sub = bold.at(size * 1.1)
                    yy = cv.paragraph(T.phrase(r, 40), cx0, cx1, yy + lead * 0.4, sub, lead, max_y=ybot)
                yy = cv.paragraph(T.paragraph(r, r.randint(2, 5)), cx0, cx1, yy, body, lead, align,
                                  indent=size * 1.2, max_y=ybot)
            if rules and c:
                cv.vline(cx0 - gutter / 2, ytop, ybot - lead * 0.5, pg.gray(0.7))
        y = ybot + size
        if y < y1 - 6 * size:
            cv.hline(x0, x1, y - size * 0.5, pg.gray(0.9), max(1, pg.u * 1.5))
