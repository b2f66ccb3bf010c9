"""The table layout."""
from __future__ import annotations

from ..elements import fmt_number, furniture, margins
from ..page import Page


def lay_table(pg: Page):
    r, cv = pg.rng, pg.cv
    size, body, bold, T = pg.body(11, 16)
    x0, y0, x1, y1 = furniture(pg, margins(pg, 0.04, 0.1), body, p_head=0.4, p_foot=0.3, p_num=0.6)
    y = y0
    n_tables = 2 if r.random() < 0.25 else 1
    for t in range(n_tables):
        title = bold.at(size * r.uniform(1.2, 1.9))
        y = cv.paragraph(T.phrase(r, 60, 6), x0, x1, y, title, pg.lead(title, 1.1),
                         align=r.choice(["start", "center"]), max_y=y1) + size * 0.5
        if r.random() < 0.5:
            y = cv.paragraph(T.paragraph(r, r.randint(1, 2)), x0, x1, y, body, pg.lead(body), max_y=y1) + size * 0.6
        ncol = r.randint(3, 8 if pg.w > pg.h else 6)
        lead = pg.lead(body, r.uniform(1.5, 2.1))
        avail = (y1 - y) / (n_tables - t) - lead * 2
        nrow = max(2, min(r.randint(6, 32), int(avail // lead) - 1))
        first_w = (x1 - x0) * r.uniform(0.25, 0.4)
        cw = (x1 - x0 - first_w) / (ncol - 1)
        colx = [x0, x0 + first_w] + [x0 + first_w + cw * k for k in range(1, ncol)]
        colx.append(x1)
        colx = colx[:ncol + 1]
        colx[-1] = x1
        style = r.choice(["grid", "rules", "zebra"])
        line = pg.gray(r.uniform(0.5, 1.0))
        pad = size * 0.4
        hdr_fill = pg.gray(r.uniform(0.1, 0.25)) if r.random() < 0.5 else None
        kinds = [r.choice(["int", "dec", "money", "pct", "date", "big"]) for _ in range(ncol)]
        ytop = y
        if hdr_fill is not None:
            cv.rect(x0, y, x1, y + lead, fill=hdr_fill)
        for c in range(ncol):
            hs = pg.phrase_fit(bold, colx[c + 1] - colx[c] - 2 * pad, 18)
            if c == 0:
                cv.text(colx[c] + pad, y + lead * 0.5 + bold.size * 0.35, hs, bold)
            else:
                cv.text(colx[c + 1] - pad, y + lead * 0.5 + bold.size * 0.35, hs, bold, align="end")
        y += lead
        if style == "rules":
            cv.hline(x0, x1, ytop, line, max(1, 2 * pg.u))
        cv.hline(x0, x1, y, line, max(1, pg.u * (2 if style == "rules" else 1)))
        total = r.random() < 0.4
        for k in range(nrow):
            if style == "zebra" and k % 2 == 1:
                cv.rect(x0, y, x1, y + lead, fill=pg.gray(0.08))
            st = bold if (total and k == nrow - 1) else body
            for c in range(ncol):
                if c == 0:
                    cv.text(colx[0] + pad, y + lead * 0.5 + st.size * 0.35,
                            pg.phrase_fit(st, colx[1] - colx[0] - 2 * pad, 30), st)
                else:
                    s = fmt_number(r, kinds[c])
                    s = s if cv.tw(st, s) <= colx[c + 1] - colx[c] - 2 * pad else str(r.randint(0, 99))
                    pg.draw_num(colx[c + 1] - pad, y + lead * 0.5 + st.size * 0.35, s, st, align="end")
            y += lead
            if style == "grid" or (total and k == nrow - 2):
                cv.hline(x0, x1, y, line)
        if style == "rules":
            cv.hline(x0, x1, y, line, max(1, 2 * pg.u))
        if style == "grid":
            cv.rect(x0, ytop, x1, y, outline=line)
            for c in range(1, ncol):
                cv.vline(colx[c], ytop, y, line)
        y += size
        if r.random() < 0.5:
            small = body.at(size * 0.8)
            y = cv.paragraph(T.sentence(r), x0, x1, y, small, pg.lead(small, 1.2), max_y=y1) + size
        y += size
