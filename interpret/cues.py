"""Cue interventions: label-free edits of a model input, for ``interpret audit``.

A **cue** is something a data set can teach a model to read instead of the page: a dark bar on
top, black bands, a logo in a corner, a page number, the letterbox's shape.  The audit takes clean
pages, makes the model input of each at its four turns (:func:`datagen.preprocess.square`), edits
every one with the cue *in the displayed frame* (a bar "on top" is on top of the image as given,
whatever its label), and counts how many answers change.  The right answer never changes, so
every changed answer is caused by the cue alone.

Every cue is a pure function ``(square uint8 (S, S), paper int, rng) -> square uint8 (S, S)``
in one registry, like the rotation strategies.  ``rng`` is a ``numpy.random.Generator`` seeded
per (seed, page, turn, cue), so the audit is deterministic and a cue's edits do not depend on
which other cues run.  Sides are numbered top 0, right 1, bottom 2, left 3 and corners top-left
0, top-right 1, bottom-right 2, bottom-left 3: class ``k`` (the clockwise turn ``90 k``) is the
answer that puts side ``k`` on top, and corner ``k`` at the top left, once the page is turned
back (``Cue.anchor``).

Three kinds (``Cue.kind``):

* ``add`` (default): the edit adds something (a bar, bands, a blob, digits) or changes the page
  box; a model that changes its answer reads the cue;
* ``remove``: the edit takes something away (``layout-blocks`` replaces the glyphs by grey blocks);
  a changed answer means the model needed what was removed, a kept answer that the rest (the
  layout) was enough;
* ``invalid``: no right answer is left (a mirrored page, a blank page); the audit reports the
  answer distribution and the mean confidence instead of flips.

A cue may name a ``control``: a cue that covers the same pixels without the signal (the
paper-coloured bands for the black ones), so that the report can tell the cue from the occlusion.

Adding a cue takes a few lines::

    import numpy as np
    from interpret.cues import Cue, register

    def stamp(square, paper, rng):                    # a dark stamp at a random place
        out = square.copy()
        s = out.shape[0]
        y, x = rng.integers(0, s - s // 8, size=2)
        out[y:y + s // 8, x:x + s // 8] = 40
        return out

    register(Cue("stamp", "a dark square stamp at a random place", stamp))

``interpret audit RUN --cue stamp`` then runs it (from Python; or put the ``register`` call in a
module your own code imports before calling :func:`interpret.audit.audit`).
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SIDES = ("top", "right", "bottom", "left")
CORNERS = ("top-left", "top-right", "bottom-right", "bottom-left")
INK_LEVEL = 64  # a pixel is ink when it differs from the paper level by more than this (0.25 of 255)
KINDS = ("add", "remove", "invalid")


@dataclass(frozen=True)
class Cue:
    """One cue of the registry.

    Attributes:
        name: CLI name (``--cue NAME``).
        summary: one line for ``interpret cues`` and the report.
        fn: ``(square (S, S) uint8, paper int, rng) -> (S, S) uint8``; must not change its input.
        kind: ``add`` (a flip means the model reads the cue), ``remove`` (a flip means it needed
            what was removed) or ``invalid`` (no right answer is left: mirror, blank page).
        anchor: the class that puts the cue at its reference place once the page is turned back
            (side cues: on top; corner cues: at the top left); None when that means nothing.
        group: what kind of cue (bar, bands, corner, margin, layout, geometry, invalid), for the report.
        control: the name of a cue that covers the same pixels without the signal (reported beside it).
    """

    name: str
    summary: str
    fn: Callable[[np.ndarray, int, np.random.Generator], np.ndarray]
    kind: str = "add"
    anchor: int | None = None
    group: str = "custom"
    control: str | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"cue {self.name}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.anchor is not None and self.anchor not in range(4):
            raise ValueError(f"cue {self.name}: anchor must be a class index 0..3, got {self.anchor!r}")

    @property
    def valid(self) -> bool:
        """True when a right answer is left (every kind but ``invalid``)."""
        return self.kind != "invalid"

    def __call__(self, square: np.ndarray, paper: int, rng: np.random.Generator) -> np.ndarray:
        if square.ndim != 2 or square.shape[0] != square.shape[1] or square.dtype != np.uint8:
            raise ValueError(f"cue {self.name}: expects a square (S, S) uint8 model input, got "
                             f"{square.shape} {square.dtype}")
        out = self.fn(square, int(paper), rng)
        out = np.asarray(out)
        if out.shape != square.shape or out.dtype != np.uint8:
            raise ValueError(f"cue {self.name}: must return a {square.shape} uint8 image, got {out.shape} {out.dtype}")
        return out

    @property
    def anchor_place(self) -> str | None:
        """Where the anchor class puts the cue: 'on top' (a side cue), 'at the top left' (a corner)."""
        if self.anchor is None:
            return None
        return "at the top left" if self.group == "corner" else "on top"


REGISTRY: dict[str, Cue] = {}


def register(cue: Cue) -> Cue:
    """Add ``cue`` to the registry; a name can be registered once."""
    if not isinstance(cue, Cue):
        raise ValueError(f"register expects a Cue, got {type(cue).__name__}")
    if cue.name in REGISTRY:
        raise ValueError(f"cue {cue.name!r} is already registered")
    if not cue.name or any(c.isspace() or c == "," for c in cue.name):
        raise ValueError(f"a cue name must be non-empty, without spaces or commas, got {cue.name!r}")
    REGISTRY[cue.name] = cue
    return cue


def get_cue(name: str) -> Cue:
    """The cue called ``name``; ``ValueError`` listing the valid names otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown cue {name!r}; choose one of: {', '.join(REGISTRY)}") from None


def cue_rng(seed: int, page: int, angle: int, name: str) -> np.random.Generator:
    """The generator a cue gets for one (page, turn): independent of the other cues that run."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(page), int(angle), zlib.crc32(name.encode())])


# --------------------------------------------------------------------------- helpers
def _px(share: float, s: int, least: int = 1) -> int:
    return max(least, int(round(share * s)))


def _side_slices(s: int, side: int, depth: int) -> tuple[slice, slice]:
    """Rows and columns of a band ``depth`` deep along ``side`` (0 top, 1 right, 2 bottom, 3 left)."""
    full = slice(0, s)
    return [(slice(0, depth), full), (full, slice(s - depth, s)), (slice(s - depth, s), full),
            (full, slice(0, depth))][side]


def ink_mask(square: np.ndarray, paper: int, level: int = INK_LEVEL) -> np.ndarray:
    """Pixels that differ from the paper level by more than ``level`` (bool, same shape)."""
    return np.abs(square.astype(np.int16) - int(paper)) > level


def dilate(mask: np.ndarray, ry: int, rx: int) -> np.ndarray:
    """Binary dilation by a ``(2 ry + 1) x (2 rx + 1)`` rectangle (pure numpy, separable)."""
    out = mask.astype(bool)
    for axis, r in ((0, ry), (1, rx)):
        if r <= 0:
            continue
        pad = [(0, 0), (0, 0)]
        pad[axis] = (r, r)
        p = np.pad(out, pad)
        acc = np.zeros_like(out)
        n = out.shape[axis]
        for k in range(2 * r + 1):
            acc |= np.take(p, range(k, k + n), axis=axis)
        out = acc
    return out


# --------------------------------------------------------------------------- the cues
def _bar(side: int):
    def fn(square, paper, rng):
        s = square.shape[0]
        out = square.copy()
        depth = _px(rng.uniform(0.06, 0.10), s, 2)
        out[_side_slices(s, side, depth)] = np.uint8(rng.integers(0, 81))
        return out

    return fn


def _bands(sides: tuple[int, int], fill: str):
    def fn(square, paper, rng):
        s = square.shape[0]
        out = square.copy()
        depth = _px(0.11, s, 2)  # kornia's 90-degree turn of a US-letter/A4 page: ~11 % of its height per side
        level = 0 if fill == "black" else paper
        for side in sides:
            out[_side_slices(s, side, depth)] = np.uint8(level)
        return out

    return fn


def _frame(square, paper, rng):
    s = square.shape[0]
    out = square.copy()
    depth = _px(rng.uniform(0.02, 0.05), s, 1)
    level = np.uint8(rng.integers(0, 81))
    for side in range(4):
        out[_side_slices(s, side, depth)] = level
    return out


def _blob(corner: int):
    def fn(square, paper, rng):
        s = square.shape[0]
        d = _px(rng.uniform(0.10, 0.16), s, 3)
        inset = _px(0.04, s, 1)
        y0 = inset if corner in (0, 1) else s - inset - d
        x0 = inset if corner in (0, 3) else s - inset - d
        yy, xx = np.mgrid[0:d, 0:d]
        c = (d - 1) / 2
        disc = (yy - c) ** 2 + (xx - c) ** 2 <= (d / 2) ** 2
        out = square.copy()
        region = out[y0:y0 + d, x0:x0 + d]
        region[disc] = np.uint8(rng.integers(0, 61))
        return out

    return fn


def _layout(square, paper, rng):
    """The text replaced by grey blocks where it was: layout kept, glyphs gone."""
    s = square.shape[0]
    ink = ink_mask(square, paper)
    out = np.full_like(square, paper)
    if not ink.any():
        return out
    blocks = dilate(ink, 0, max(1, s // 32))  # words merge into line blocks; lines stay apart
    ink_level = float(np.median(square[ink]))
    out[blocks] = np.uint8(round((ink_level + paper) / 2))
    return out


_FONTS: dict[int, ImageFont.ImageFont] = {}


def _font(px: int):
    if px not in _FONTS:
        try:
            _FONTS[px] = ImageFont.load_default(size=px)  # FreeType build of PIL: scalable default font
        except (TypeError, ImportError, OSError):  # pragma: no cover - PIL without FreeType: the bitmap font
            _FONTS[px] = ImageFont.load_default()
    return _FONTS[px]


def _page_number(side: int):
    def fn(square, paper, rng):
        s = square.shape[0]
        text = str(int(rng.integers(1, 200)))
        font = _font(max(6, _px(0.08, s)))
        im = Image.fromarray(square.copy(), mode="L")
        d = ImageDraw.Draw(im)
        x0, y0, x1, y1 = d.textbbox((0, 0), text, font=font)
        tw, th = x1 - x0, y1 - y0
        inset = _px(0.02, s, 1)
        if side == 0:
            x, y = (s - tw) // 2, inset
        elif side == 2:
            x, y = (s - tw) // 2, s - inset - th
        elif side == 1:
            x, y = s - inset - tw, (s - th) // 2
        else:
            x, y = inset, (s - th) // 2
        ink = 0 if paper > 127 else 255
        d.text((x - x0, y - y0), text, fill=ink, font=font)
        return np.asarray(im, dtype=np.uint8)

    return fn


def _squeeze(axis: int, factor: float = 0.7):
    """The whole input squeezed along one axis and centred again on paper: the page box changes
    shape (squeezing the width is stretching the height and refitting)."""
    def fn(square, paper, rng):
        s = square.shape[0]
        n = _px(factor, s, 1)
        size = (n, s) if axis == 1 else (s, n)  # PIL: (width, height)
        small = np.asarray(Image.fromarray(square, mode="L").resize(size, Image.Resampling.BOX), dtype=np.uint8)
        out = np.full_like(square, paper)
        h, w = small.shape
        top, left = (s - h) // 2, (s - w) // 2
        out[top:top + h, left:left + w] = small
        return out

    return fn


def _mirror(square, paper, rng):
    return np.ascontiguousarray(square[:, ::-1])


def _blank(square, paper, rng):
    return np.full_like(square, paper)


for _i, _s in enumerate(SIDES):
    register(Cue(f"bar-{_s}", f"a flat dark bar along the {_s} edge (6-10 % of the side, grey 0-80)", _bar(_i),
                 anchor=_i, group="bar"))
register(Cue("bands-tb", "black bands at top and bottom (11 % each, as kornia-zeros leaves on a turned portrait page)",
             _bands((0, 2), "black"), group="bands", control="paper-bands-tb"))
register(Cue("bands-lr", "black bands at left and right (11 % each)", _bands((1, 3), "black"), group="bands",
             control="paper-bands-lr"))
register(Cue("paper-bands-tb", "paper-coloured bands at top and bottom (11 % each: the edges cropped away)",
             _bands((0, 2), "paper"), group="bands"))
register(Cue("paper-bands-lr", "paper-coloured bands at left and right (11 % each)", _bands((1, 3), "paper"),
             group="bands"))
register(Cue("frame", "a dark scanner border on all four sides (2-5 % deep)", _frame, group="bands"))
for _i, _c in enumerate(CORNERS):
    register(Cue(f"blob-{_c}", f"a logo-like dark disc in the {_c} corner (10-16 % wide)", _blob(_i), anchor=_i,
                 group="corner"))
register(Cue("layout-blocks", "the text replaced by grey blocks where it was (layout kept, glyphs gone)", _layout,
             kind="remove", group="layout"))
for _i, _s in enumerate(SIDES):
    register(Cue(f"page-number-{_s}", f"an upright page number (PIL's default font) in the {_s} margin",
                 _page_number(_i), anchor=_i, group="margin"))
register(Cue("squeeze-h", "the input squeezed to 70 % of its width and centred on paper (page box narrower)",
             _squeeze(1), group="geometry"))
register(Cue("squeeze-v", "the input squeezed to 70 % of its height and centred on paper (page box wider)",
             _squeeze(0), group="geometry"))
register(Cue("mirror", "the page mirrored left to right: no orientation is right", _mirror, kind="invalid",
             group="invalid"))
register(Cue("blank", "a blank page of the same paper level: no orientation is right", _blank, kind="invalid",
             group="invalid"))
del _i, _s, _c

CUES = tuple(REGISTRY)


def demo_square(size: int = 128, paper: int = 245) -> np.ndarray:
    """A synthetic upright text page as a model input (for the cue examples figure): a heading
    at the top left, left-aligned lines of "words", a page number at the bottom."""
    rng = np.random.default_rng(7)
    h, w = size, int(round(size * 0.77))
    page = np.full((h, w), paper, np.uint8)
    m = max(2, w // 12)
    bar = max(1, h // 60)
    page[m:m + 3 * bar, m:m + w // 2] = 20
    y = m + 6 * bar
    while y < h - m - 4 * bar:
        x = m
        end = w - m - (int(rng.integers(0, w // 3)) if rng.random() < 0.3 else 0)
        while x < end - 3:
            ww = int(rng.integers(w // 30 + 2, w // 7 + 3))
            page[y:y + bar, x:min(x + ww, end)] = 30
            x += ww + max(2, w // 40)
        y += 3 * bar
    page[h - m:h - m + bar, w // 2 - 2:w // 2 + 2] = 30
    from datagen.preprocess import square

    return square(page, size, paper, 0)
