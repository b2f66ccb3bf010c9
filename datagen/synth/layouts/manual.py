"""The manual layout: numbered headings, paragraphs, lists, code blocks and boxed notes, in a
random sequence; each kind of block is one function of :data:`BLOCKS`."""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

from ..elements import bullet, furniture, margins
from ..fonts import Style
from ..page import Column, Page


_CODE_WORDS = ("value", "path", "count", "buffer", "index", "name", "size", "item", "result", "config", "data",
               "line", "file", "node", "start", "offset", "limit", "key", "page", "table", "user", "state", "text")


def _shell_line(r: random.Random, w: Callable[[], str], depth: int) -> tuple[str, int]:
    return r.choice([f"$ {w()} --{w()} {w()}.txt", f"$ {w()}-{w()} -{r.choice('avxnq')} {r.randint(1, 99)}",
                     f"# {w()} {w()}", f"  {w()}: {r.randint(0, 9999)}"]), depth


def _python_line(r: random.Random, w: Callable[[], str], depth: int) -> tuple[str, int]:
    """A def or an if (one level in, at most three), a return (one level out) or a statement."""
    ind, c = "    " * depth, r.randrange(5)
    if c == 0 and depth < 3:
        return f"{ind}def {w()}_{w()}({w()}, {w()}=None):", depth + 1
    if c == 1 and depth < 3:
        return f"{ind}if {w()} > {r.randint(0, 99)}:", depth + 1
    if c == 2 and depth:
        return f"{ind}return {w()} + {r.randint(1, 9)}", depth - 1
    return f"{ind}{w()} = {w()}[{r.randint(0, 9)}]  # {w()}", depth


def _c_line(r: random.Random, w: Callable[[], str], depth: int) -> tuple[str, int]:
    """A for loop's opening (one level in, at most three), a closing brace or a statement."""
    ind, c = "  " * depth, r.randrange(4)
    if c == 0 and depth < 3:
        return f"{ind}for (int i = 0; i < {w()}; i++) {{", depth + 1
    if c == 1 and depth:
        return "  " * (depth - 1) + "}", depth - 1
    return f"{ind}{w()}->{w()} = {w()}({w()}, {r.randint(0, 255)});", depth


def _config_line(r: random.Random, w: Callable[[], str], depth: int) -> tuple[str, int]:
    return r.choice([f"[{w()}]", f"{w()} = {r.randint(0, 999)}", f"{w()}_{w()} = \"{w()}\"", ""]), depth


# The kinds of code block, each a function (rng, word, depth) -> (line, depth after it).
_CODE_KINDS = {"shell": _shell_line, "python": _python_line, "c": _c_line, "config": _config_line}


def code_lines(r: random.Random, n: int) -> list[str]:
    w = lambda: r.choice(_CODE_WORDS)
    line_of = _CODE_KINDS[r.choice(["shell", "python", "c", "config"])]
    out = []
    depth = 0
    for _ in range(n):
        line, depth = line_of(r, w, depth)
        out.append(line)
    return out


@dataclass
class Manual(Column):
    """What every block of one manual page shares."""
    body: Style
    bold: Style
    code: Style | None
    lead: int
    justify: bool
    sec: list[int]      # chapter and section numbers; each heading counts the section up
    marker: str


def lay_manual(pg: Page):
    r = pg.rng
    size, body, bold, T = pg.body(12, 17)
    code = pg.code_style(size * r.uniform(0.85, 1.0))
    x0, y0, x1, y1 = furniture(pg, margins(pg, 0.06, 0.12), body, p_head=0.75, p_foot=0.5, p_num=0.9)
    lead = pg.lead(body, r.uniform(1.25, 1.5))
    m = Manual(pg, T, x0, x1, y1, size, body, bold, code, lead, justify=r.random() < 0.35,
               sec=[r.randint(1, 12), r.randint(1, 9)], marker=r.choice(["disc", "square", "dash", "circle"]))
    weights = [w if name != "code" or code else 0 for name, w in BLOCK_WEIGHTS.items()]
    y = y0
    while y < y1 - 3 * lead:
        y = BLOCKS[r.choices(list(BLOCKS), weights)[0]](m, y)
        if y is None:   # the block did not fit: the page ends here
            break


def _head(m: Manual, y: float) -> float:
    """A numbered section heading."""
    pg, cv, r = m.pg, m.pg.cv, m.pg.rng
    m.sec[1] += 1
    hs = m.bold.at(m.size * r.uniform(1.15, 1.6))
    num = f"{m.sec[0]}.{m.sec[1]}"
    y += m.lead * 0.5
    num_s, nst = pg.num(hs, num)
    cv.text(m.x0, y + hs.asc, num_s, nst)
    nx = cv.tw(nst, num_s) + hs.size * 0.8
    return cv.paragraph(m.T.phrase(r, 50), m.x0 + nx, m.x1, y, hs, pg.lead(hs, 1.15), max_y=m.y1) + m.lead * 0.3


def _par(m: Manual, y: float) -> float:
    """A paragraph, justified on some pages."""
    r = m.pg.rng
    return m.pg.cv.paragraph(m.T.paragraph(r, r.randint(1, 4)), m.x0, m.x1, y, m.body, m.lead,
                             "justify" if m.justify else "start", max_y=m.y1) + m.lead * 0.5


def _list(m: Manual, y: float) -> float:
    """Two to five bulleted items."""
    pg, r, size, lead = m.pg, m.pg.rng, m.size, m.lead
    for _ in range(r.randint(2, 5)):
        if y > m.y1 - lead:
            break
        bullet(pg, m.x0 + size * 0.8, y + m.body.asc, m.body, m.marker)
        y = pg.cv.paragraph(m.T.phrase(r, 60) if r.random() < 0.5 else m.T.sentence(r), m.x0 + size * 1.8, m.x1, y,
                            m.body, lead, max_y=m.y1) + lead * 0.15
    return y + lead * 0.4


def _code(m: Manual, y: float) -> float | None:
    """A code block (filled, framed or barred), left to right on every page; None where it does
    not fit."""
    pg, r, cv, code, size, x0, x1 = m.pg, m.pg.rng, m.pg.cv, m.code, m.size, m.x0, m.x1
    lines = code_lines(r, r.randint(3, 10))
    cl = pg.lead(code, 1.25)
    h = cl * len(lines) + size
    if y + h > m.y1:
        return None
    style = r.choice(["fill", "border", "bar"])
    if style == "fill":
        cv.rect(x0, y, x1, y + h, fill=pg.gray(r.uniform(0.05, 0.15)))
    elif style == "border":
        cv.rect(x0, y, x1, y + h, outline=pg.gray(0.5))
    else:
        cv.rect(x0, y, x0 + max(2, size * 0.25), y + h, fill=pg.gray(0.5))
    yy = y + size * 0.5 + code.asc
    rtl = cv.rtl
    for ln in lines:   # code reads left to right on every page
        if ln:
            cx = (x0 + size) if not rtl else (pg.w - x1 + size)
            pg.cv.d.text((cx, yy), ln, font=code.font, fill=cv.ink, anchor="ls")
            cv.faces.add(code.face.name)
            cv.scripts.add("latin")
        yy += cl
    return y + h + m.lead * 0.6


def _note(m: Manual, y: float) -> float | None:
    """A framed note with a bar, a bold title and a sentence; None where it does not fit."""
    pg, r, cv, size, x0, x1, bold = m.pg, m.pg.rng, m.pg.cv, m.size, m.x0, m.x1, m.bold
    small = m.body.at(size * 0.95)
    lines = cv.wrap(small, m.T.sentence(r), x1 - x0 - size * 2)
    h = pg.lead(small) * (len(lines) + 1) + size
    if y + h > m.y1:
        return None
    cv.rect(x0, y, x1, y + h, outline=pg.gray(0.7), width=max(1, pg.u))
    cv.rect(x0, y, x0 + size * 0.4, y + h, fill=pg.gray(0.6))
    cv.text(x0 + size, y + size * 0.5 + small.asc, pg.phrase_fit(bold, x1 - x0 - 2 * size, 20),
            bold.at(small.size))
    yy = y + size * 0.5 + pg.lead(small) + small.asc
    for ln in lines:
        cv.draw_line(ln, x0 + size, x1 - size, yy, small)
        yy += pg.lead(small)
    return y + h + m.lead * 0.6


BLOCKS: dict[str, Callable[[Manual, float], float | None]] = {
    "head": _head, "par": _par, "list": _list, "code": _code, "note": _note}
BLOCK_WEIGHTS = {"head": 2, "par": 5, "list": 2, "code": 2, "note": 1}   # code: 0 where no face draws code
