"""Glyph-scale windows: the page seen at the size of its own text.

A whole page averaged down to 256 px shows a line of text as a stripe 2-4 px tall: it tells which
way the lines run, not which way is up.  Up and down live in the glyphs (ascenders against
descenders, capitals, punctuation, diacritics, the baseline side of Arabic, CJK strokes), so the
window model reads the page at a fixed *text* scale, whatever the file's resolution:

1. :func:`ink_mask` separates ink from paper relative to the *local* paper level (uneven
   lighting, yellowed scans, photo vignettes), with Otsu's threshold on the darkness;
2. :func:`text_scale` is the median size of the character-like connected components (the smaller
   of their median height and median width, which is the x-height for Latin and the stroke
   block for CJK), measured on the page itself;
3. :func:`page_windows` resamples the page so that this scale becomes :data:`TARGET` pixels, and
   takes ``k`` windows of :data:`WIN` x :data:`WIN` px on ink, spread over the page
   (:func:`candidates`, then :func:`select`).

Everything here is numpy and OpenCV (``cv2``: connected components by Grana's algorithm, area
resampling): no torch, so ``trainer predict`` on onnxruntime stays small.  The same functions cut
the training windows (:mod:`datagen.windows`) and the windows a prediction votes, so training and
inference see the same thing.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TARGET = 7.0  # text scale (px) after resampling
WIN = 64  # window side (px)
STRIDE = 16  # candidate grid step (px)
MIN_COMPONENTS = 12  # fewer character-like components: no text scale (the page falls back)
MAX_SIDE = 2400  # the scale is measured on the page shrunk to at most this long side
MIN_INK, MAX_INK = 0.04, 0.45  # a candidate window's share of ink pixels
GLYPH_SCORE = True  # rank candidate windows by the glyphs they hold (else by their ink)
MIN_GLYPHS = 3  # a candidate window holds at least this many character-like components
MAX_PAGE_INK = 0.4  # a page with more ink than this is not text on paper
LEVEL_MIN = 3.0  # degrees: a page tilted at least this much is levelled before windows are cut


def _cv2():
    try:
        import cv2
    except ImportError:  # pragma: no cover - a base dependency
        raise ValueError("glyph windows need OpenCV: pip install opencv-python-headless") from None
    return cv2


def shrink(gray: np.ndarray, max_side: int = MAX_SIDE) -> tuple[np.ndarray, float]:
    """``gray`` area-averaged so that its long side is at most ``max_side``, and the factor used."""
    h, w = gray.shape
    f = min(1.0, max_side / max(h, w))
    if f >= 1.0:
        return gray, 1.0
    cv2 = _cv2()
    return cv2.resize(gray, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA), f


def stretched(gray: np.ndarray) -> np.ndarray:
    """``gray`` with a narrow range of levels (a 4-bit scan, a faded photo) stretched to 0-255;
    any other page as it is."""
    lo, hi = int(gray.min()), int(gray.max())
    if hi - lo >= 96 or hi <= lo:
        return gray
    return ((gray.astype(np.float32) - lo) * (255.0 / (hi - lo))).astype(np.uint8)


def darkness(gray: np.ndarray) -> np.ndarray:
    """How much darker than its local paper each pixel is (uint8): the paper level is a grey
    closing (a max filter) of a downsampled copy, smoothed, so ink thinner than ~1/40 of the page
    is never mistaken for paper."""
    cv2 = _cv2()
    h, w = gray.shape
    small_f = min(1.0, 256 / max(h, w))
    small = cv2.resize(gray, (max(1, round(w * small_f)), max(1, round(h * small_f))), interpolation=cv2.INTER_AREA)
    k = max(3, (max(small.shape) // 40) | 1)
    paper = cv2.dilate(small, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    paper = cv2.blur(paper, (k, k))
    paper = cv2.resize(paper, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.subtract(paper, gray)


def ink_mask(gray: np.ndarray) -> np.ndarray:
    """Boolean ink pixels: darkness above Otsu's threshold of the darkness (at least 24 levels,
    so a blank sheet's grain is not ink)."""
    cv2 = _cv2()
    d = darkness(gray)
    t, _ = cv2.threshold(d, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return d > max(24.0, float(t))


@dataclass(frozen=True)
class Scale:
    """A page's text scale: ``size`` px (None when the page shows too little text) measured on
    ``components`` character-like connected components."""

    size: float | None
    components: int


@dataclass(frozen=True)
class _Measure:
    scale: Scale
    mask: np.ndarray | None  # ink of the page shrunk by ``f``
    f: float
    comps: tuple | None  # (heights, widths, fill ratios, centroids (x, y)) of all components, in that page


def _measure(gray: np.ndarray) -> _Measure:
    cv2 = _cv2()
    small, f = shrink(gray)
    m = ink_mask(small)
    if m.mean() > MAX_PAGE_INK:  # a photo, noise or a dark page, not text on paper
        return _Measure(Scale(None, 0), None, f, None)
    n, _, stats, cent = cv2.connectedComponentsWithStats(m.view(np.uint8), connectivity=8)
    if n <= 1:
        return _Measure(Scale(None, 0), m, f, None)
    st = stats[1:]
    w, h, area = st[:, cv2.CC_STAT_WIDTH], st[:, cv2.CC_STAT_HEIGHT], st[:, cv2.CC_STAT_AREA]
    fill = area / np.maximum(1, w * h)
    comps = (h, w, fill, cent[1:])
    lim = 0.08 * max(small.shape)
    keep = (h >= 3) & (w >= 2) & (h <= lim) & (w <= lim) & (fill > 0.08) & (fill < 0.95) \
        & (w < 6 * h) & (h < 6 * w)
    if keep.sum() < MIN_COMPONENTS:
        return _Measure(Scale(None, int(keep.sum())), m, f, comps)
    s = min(float(np.median(h[keep])), float(np.median(w[keep])))
    return _Measure(Scale(s / f, int(keep.sum())), m, f, comps)


def text_scale(gray: np.ndarray) -> Scale:
    """The text scale of a page (pixels of ``gray``): min(median height, median width) of its
    character-like connected components, or ``Scale(None, n)`` when fewer than
    :data:`MIN_COMPONENTS` are found (blank pages, photos, pure drawings).

    >>> import numpy as np
    >>> text_scale(np.full((200, 200), 255, np.uint8)).size is None
    True
    """
    return _measure(gray).scale


def resample(gray: np.ndarray, factor: float) -> np.ndarray:
    """``gray`` resized by ``factor`` (area averaging when shrinking, bilinear when enlarging)."""
    cv2 = _cv2()
    h, w = gray.shape
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    if size == (w, h):
        return gray
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)


def _window_sums(img: np.ndarray, win: int, stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sums of ``img`` over every ``win``-px window on a ``stride`` grid, and the grid's rows and cols."""
    h, w = img.shape
    ii = _cv2().integral(img.view(np.uint8) if img.dtype == bool else img, sdepth=_cv2().CV_32S)
    rows = np.arange(0, h - win + 1, stride)
    cols = np.arange(0, w - win + 1, stride)
    r, c = rows[:, None], cols[None, :]
    # only the grid's corners are widened to int64 (the whole integral image need not be)
    a, b = ii[r + win, c + win].astype(np.int64), ii[r, c + win].astype(np.int64)
    return a - b - ii[r + win, c].astype(np.int64) + ii[r, c].astype(np.int64), rows, cols


def glyph_centres(shape: tuple[int, int], comps: tuple, scale: float, target: float,
                  affine: np.ndarray | None = None) -> np.ndarray:
    """A map of ``shape`` with 1 at the centre of every character-like component, from the
    components measured on the page shrunk by ``1 / scale`` (``comps`` of :func:`_measure`, their
    sizes and centres multiplied by ``scale``, then moved by the 2x3 ``affine`` when given), 0
    elsewhere."""
    out = np.zeros(shape, np.uint8)
    if comps is None:
        return out
    h, w, fill, cent = comps
    h, w = h * scale, w * scale
    keep = (h >= 0.4 * target) & (h <= 4 * target) & (w <= 6 * target) & (fill > 0.08) & (fill < 0.95)
    c = cent[keep] * scale
    if affine is not None:
        c = c @ affine[:, :2].T + affine[:, 2]
    c = np.clip(c.astype(int), 0, [shape[1] - 1, shape[0] - 1])
    out[c[:, 1], c[:, 0]] = 1
    return out


def candidates(mask: np.ndarray, win: int = WIN, stride: int = STRIDE, centres: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """Top-left corners ``(n, 2)`` (row, col) of the ``win``-px windows on a ``stride`` grid whose
    ink share lies in [MIN_INK, MAX_INK] (``mask``: bool, or uint8 ink levels 0-255), and their
    scores ``(n,)``: the ink share, or with
    ``centres`` (:func:`glyph_centres`) the number of glyphs inside, at least
    :data:`MIN_GLYPHS` (so rules, solid shapes and pictures are left out)."""
    h, w = mask.shape
    if h < win or w < win:
        return np.zeros((0, 2), int), np.zeros(0)
    s, rows, cols = _window_sums(mask, win, stride)
    share = s / float(win * win * (1 if mask.dtype == bool else 255))
    ok = (share >= MIN_INK) & (share <= MAX_INK)
    score = share
    if centres is not None:
        score, _, _ = _window_sums(centres, win, stride)
        ok &= score >= MIN_GLYPHS
    rr, cc = np.nonzero(ok)
    return np.stack([rows[rr], cols[cc]], 1), score[rr, cc].astype(np.float64)


def select(corners: np.ndarray, share: np.ndarray, k: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """Indices of ``k`` candidates spread over the page: farthest-point sampling among the
    ``8 k`` inkiest, starting from the inkiest (or from a random one with ``rng``).  Fewer when
    there are fewer candidates."""
    n = len(corners)
    if n == 0 or k <= 0:
        return np.zeros(0, int)
    pool = np.argsort(-share, kind="stable")[: 8 * k]
    pts = corners[pool].astype(np.float64)
    first = int(rng.integers(len(pool))) if rng is not None else 0
    chosen = [first]
    dist = ((pts - pts[first]) ** 2).sum(1)
    for _ in range(min(k, len(pool)) - 1):
        nxt = int(dist.argmax())
        chosen.append(nxt)
        dist = np.minimum(dist, ((pts - pts[nxt]) ** 2).sum(1))
    return pool[np.array(chosen)]


@dataclass
class Windows:
    """The windows of one page: ``windows (n, WIN, WIN)`` uint8 (as the page shows them, before
    any turn), the text scale measured (px of the input), the factor the page was resampled by,
    and the windows' top-left corners in the resampled page."""

    windows: np.ndarray
    scale: Scale
    factor: float
    corners: np.ndarray
    shape: tuple[int, int]  # resampled page (h, w)
    tilt: float = 0.0  # clockwise degrees the page was levelled by before the windows were cut


def level(page: np.ndarray, mask: np.ndarray, tilt: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``page`` (uint8 grey) and its ink ``mask`` (uint8 levels) turned counter-clockwise by
    ``tilt`` degrees, which undoes a clockwise tilt, on a canvas grown to hold them, and the 2x3
    matrix that moved them.  The corners the turn exposes get the page's paper level (its 90th
    percentile) and no ink."""
    cv2 = _cv2()
    h, w = page.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), float(tilt), 1.0)  # positive: counter-clockwise as shown
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(round(h * sin + w * cos)), int(round(h * cos + w * sin))
    m[0, 2] += (nw - w) / 2
    m[1, 2] += (nh - h) / 2
    paper = int(np.percentile(page[::4, ::4], 90))
    out = cv2.warpAffine(page, m, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=paper)
    ink = cv2.warpAffine(mask, m, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out, ink, m


def page_windows(gray: np.ndarray, k: int, target: float = TARGET, win: int = WIN,
                 rng: np.random.Generator | None = None, jitter: float = 0.0, tilt_of=None) -> Windows:
    """Up to ``k`` text windows of an (h, w) uint8 page, resampled so that its text scale becomes
    ``target`` px (times ``exp(U(-jitter, jitter))`` with ``rng``, for training).  A page without
    a text scale gives no windows (``windows`` of length 0).

    ``tilt_of`` (prediction only): a function of the page's ink map (bool) that returns its
    clockwise tilt in degrees (:func:`trainer.skew.coarse_tilt`).  A page tilted by at least
    :data:`LEVEL_MIN` is then levelled (:func:`level`) before its windows are cut, so the
    windows show lines about as level as the training windows did (their pages were tilted by
    at most a few degrees, on purpose).  Training windows are cut without it."""
    cv2 = _cv2()
    gray = stretched(gray)
    ms = _measure(gray)
    sc = ms.scale
    empty = Windows(np.zeros((0, win, win), np.uint8), sc, 1.0, np.zeros((0, 2), int), gray.shape)
    if sc.size is None:
        return empty
    factor = target / sc.size
    if rng is not None and jitter:
        factor *= float(np.exp(rng.uniform(-jitter, jitter)))
    factor = min(factor, 4.0)
    page = resample(gray, factor)
    # the ink measured once, on the shrunk page, brought to the resampled page as levels 0-255
    mask = cv2.resize(ms.mask.view(np.uint8) * np.uint8(255), (page.shape[1], page.shape[0]),
                      interpolation=cv2.INTER_AREA if factor < ms.f else cv2.INTER_LINEAR)
    tilt = float(tilt_of(ms.mask)) if tilt_of is not None else 0.0
    affine = None
    if abs(tilt) >= LEVEL_MIN:
        page, mask, affine = level(page, mask, tilt)
    else:
        tilt = 0.0
    centres = glyph_centres(page.shape, ms.comps, factor / ms.f, target, affine) if GLYPH_SCORE else None
    corners, share = candidates(mask, win, centres=centres)
    idx = select(corners, share, k, rng)
    if len(idx) == 0:
        return Windows(empty.windows, sc, factor, empty.corners, page.shape, tilt)
    cs = corners[idx]
    out = np.stack([page[r:r + win, c:c + win] for r, c in cs])
    return Windows(out, sc, factor, cs, page.shape, tilt)
