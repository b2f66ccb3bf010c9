"""The slide layout."""
from __future__ import annotations

from ..elements import bullet, figure
from ..page import Page


def lay_slide(pg: Page):
    r, cv = pg.rng, pg.cv
    size, body, bold, T = pg.body(20, 34)
    s = min(pg.w, pg.h)
    x0, y0, x1, y1 = int(pg.w * r.uniform(0.05, 0.09)), int(s * r.uniform(0.05, 0.09)), \
        pg.w - int(pg.w * r.uniform(0.05, 0.09)), pg.h - int(s * r.uniform(0.05, 0.09))
    title = bold.at(size * r.uniform(1.4, 2.0))
    if r.random() < 0.4:   # footer band / slide number
        small = body.at(size * 0.55)
        yb = y1 - small.desc
        al = r.choice(["start", "center", "end"])
        pg.draw_num({"start": x0, "center": (x0 + x1) / 2, "end": x1}[al], yb, str(r.randint(1, 60)), small, align=al)
        other = [a for a in ("start", "center", "end") if a != al]
        a2 = r.choice(other)
        cv.text({"start": x0, "center": (x0 + x1) / 2, "end": x1}[a2], yb, pg.phrase_fit(small, (x1 - x0) * 0.3), small,
                align=a2)
        if r.random() < 0.5:
            cv.hline(x0, x1, yb - small.asc - size * 0.3, pg.gray(0.5))
        y1 = int(yb - small.asc - size * 0.8)
    if r.random() < 0.18:   # title slide
        cy = (y0 + y1) / 2 - title.size
        cv.paragraph(T.phrase(r, 50, 6), x0, x1, cy - title.size, title, pg.lead(title, 1.1), align="center", max_y=y1)
        sub = body.at(size * 0.9)
        cv.paragraph(T.phrase(r, 60), x0, x1, cy + title.size * 1.6, sub, pg.lead(sub), align="center", max_y=y1)
        return
    if r.random() < 0.4:   # title band
        bh = pg.lead(title, 1.1) + size * 1.2
        strong = r.random() < 0.4
        cv.rect(0, 0, pg.w, y0 + bh, fill=pg.gray(0.85) if strong else pg.gray(r.uniform(0.1, 0.25)))
        cv.paragraph(T.phrase(r, 50, 6), x0, x1, y0 + size * 0.4, title, pg.lead(title, 1.1), max_y=y0 + bh,
                     fill=cv.paper if strong else None)
        y = y0 + bh + size
    else:
        y = cv.paragraph(T.phrase(r, 50, 6), x0, x1, y0, title, pg.lead(title, 1.1),
                         align=r.choice(["start", "start", "center"]), max_y=y1) + size * 0.8
        if r.random() < 0.5:
            cv.hline(x0, x0 + (x1 - x0) * r.uniform(0.2, 1), y - size * 0.4, pg.gray(0.6), max(1, 2 * pg.u))
    bx1 = x1
    if r.random() < 0.35:
        fx0 = x0 + (x1 - x0) * r.uniform(0.5, 0.6)
        figure(pg, fx0, y, x1, y1 - size, body)
        bx1 = fx0 - size
    marker = r.choice(["disc", "disc", "square", "dash", "circle"])
    lead = pg.lead(body, r.uniform(1.2, 1.4))
    for k in range(r.randint(3, 7)):
        if y + lead > y1:
            break
        sub = k > 0 and r.random() < 0.25
        st = body.at(size * 0.8) if sub else body
        ind = size * (2.6 if sub else 1.2)
        bullet(pg, x0 + ind - size * 0.7, y + st.asc, st, marker if not sub else "dash")
        txt = T.phrase(r, 60) if r.random() < 0.6 else T.sentence(r)
        y = cv.paragraph(txt, x0 + ind, bx1, y, st, pg.lead(st, 1.2), max_y=y1) + lead * 0.35
