"""The fine skew of a page, and a deskewed copy of an image.

Convention: ``skew`` is the CLOCKWISE tilt, in degrees in ``[-45, 45)``, that the page shows as
displayed (x to the right, y down): the text lines of a page turned clockwise by 3 degrees run
down to the right, and its skew is ``+3``.  A page that is also quarter-turned shows the same
tilt modulo 90 (its lines are vertical, tilted by the same angle), so the page's whole
clockwise turn is ``angle + skew``.  :func:`deskew_image` turns an image COUNTER-clockwise by
``skew``, which undoes it.

Method: projection profiles (Postl 1986; the method of Leptonica's ``pixFindSkew``), searched
coarse to fine on a binarised, downsampled page.  Ink pixels are projected onto the normal of
each candidate angle, for rows and for columns at once (so a quarter-turned page answers its
tilt modulo 90), and a candidate scores the energy of the profile's first differences, which
peaks where text lines, rules and table borders line up with the bins.  The coarse search runs
on a small copy over the whole ``[-45, 45)``; the fine search around the best coarse angle on
a larger copy, with a parabola through the top three scores for the last fraction of a step.
Ink marks longer than a quarter of the page (scan edges, gutters, long rules) are dropped
first: one straight line outweighs many short text lines and need not share their tilt.
The projection is computed from the ink pixels' coordinates (a ``bincount`` per angle), never
by rotating the image, which is what makes a page cost a few milliseconds.

``confidence`` is the sharpness of the profile peak: ``1 - median / max`` of the coarse scores
(0 for a page whose score is the same at every angle, near 1 for a page of long text lines).
``needs_review`` is set when the page has too little ink to tell (fewer than
:data:`MIN_INK` ink pixels, or fewer than :data:`MIN_BLOBS` marks) or the peak is not sharp.
See docs/skew.md for the comparison with other methods that chose this one.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

COARSE_SIDE = 256   # long side of the copy whose spectrum votes over the whole range
FINE_SIDE = 1024    # long side of the copy the fine search runs on
COARSE_STEP = 0.5   # degrees: the spectrum's vote bins
MID_SPAN = 1.5      # degrees each side of the spectrum's winner that the profiles search
MID_STEP = 0.25    # degrees
FINE_STEP = 0.1     # degrees
FINE_SPAN = 0.3     # degrees each side of the profiles' first winner
CANDIDATES = 2      # spectrum peaks the profiles may search around
RUNNER_UP = 0.9     # a second peak is searched when its votes are this share of the first's
FINE_CAP = 100000   # ink pixels the fine search projects (every k-th)
MID_CAP = 100000    # of those, the ones the mid search projects (every m-th)
MIN_INK = 400       # ink pixels (on the fine copy) below which a page has too little to tell
MIN_BLOBS = 3       # marks (connected ink components, on the coarse copy) below which likewise
_SUB = 2            # profile bins per pixel (see _scores)
MIN_CONFIDENCE = 0.35
LONG_MARK = 0.25    # ink components longer than this share of the long side are not text


@dataclass(frozen=True)
class Skew:
    """One page's fine tilt: ``angle`` (clockwise, degrees, ``[-45, 45)``), ``confidence`` in
    ``[0, 1]`` (sharpness of the projection peak) and ``needs_review`` (too little text, or no
    clear peak: the angle should not be acted on without a look)."""

    angle: float
    confidence: float
    needs_review: bool
    reason: str | None = None


def _gray(img) -> np.ndarray:
    """A 2-D uint8 array of ``img`` (PIL image or array; colour is averaged to luminance)."""
    if not isinstance(img, np.ndarray):
        from PIL import Image

        if img.mode not in ("L", "RGB"):
            img = img.convert("RGBA").convert("RGB") if "A" in img.getbands() or img.mode == "P" else img.convert("L")
        img = np.asarray(img.convert("L"))
    a = np.asarray(img)
    if a.ndim == 3 and a.shape[2] in (3, 4):
        a = a[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"estimate_skew: expected a 2-D grayscale page (H, W) or (H, W, 3), got shape {a.shape}")
    if a.dtype == np.bool_:
        return np.where(a, 255, 0).astype(np.uint8)
    if a.dtype != np.uint8:
        a = a.astype(np.float64)
        hi = 1.0 if a.max() <= 1.0 else (255.0 if a.max() <= 255 else float(a.max()))
        a = np.clip(a / hi * 255.0, 0, 255).astype(np.uint8)
    return a


def _shrink(gray: np.ndarray, side: int) -> np.ndarray:
    """``gray`` with its long side brought down to about ``side`` (never up): area averaging by
    a whole factor (OpenCV's fast path for an integer ratio: the few rows and columns past a
    multiple of it are dropped), then bilinear for the rest of the way, which is under 2x and
    so still samples every pixel.  A third of the cost of area averaging by a fractional ratio,
    which was most of the estimate's time."""
    import cv2

    h, w = gray.shape
    k = int(max(h, w) // side)
    if k >= 2:
        gray = cv2.resize(gray[:h // k * k, :w // k * k], (w // k, h // k), interpolation=cv2.INTER_AREA)
        h, w = gray.shape
    if max(h, w) > side:
        s = side / max(h, w)
        gray = cv2.resize(gray, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_LINEAR)
    return gray


def _ink(gray: np.ndarray, side: int) -> np.ndarray:
    """Binary ink map (1 = ink) of ``gray``, shrunk when its long side is over 1.4 ``side``
    (to ``side``).  A local (adaptive) threshold, so uneven lighting and dark scan borders do
    not flood it."""
    import cv2

    small = _shrink(gray, side) if max(gray.shape) > 1.4 * side else gray
    block = max(3, (min(small.shape) // 24) | 1)
    return cv2.adaptiveThreshold(small, 1, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, block, 12)


def _drop_long(ink: np.ndarray, share: float = LONG_MARK) -> np.ndarray:
    """``ink`` without its connected components (8-connected) whose bounding box is longer
    than ``share`` of the map's long side: the dark edge of a scanned page, a book's gutter,
    a photo's table edge, a long rule.  Such a mark is one straight line whose tilt need not be
    the text's (a page lies crooked on the glass; a gutter bends), and a single long line
    outweighs many short text lines in a projection profile.  A map with nothing that long is
    returned as it is."""
    import cv2

    _, lab, st, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    side = np.maximum(st[:, cv2.CC_STAT_WIDTH], st[:, cv2.CC_STAT_HEIGHT])
    keep = (side <= share * max(ink.shape)).astype(np.uint8)  # 1 = ink that stays, per label
    keep[0] = 0  # label 0 is the background
    return ink if keep[1:].all() else keep[lab]


def _coords(ink: np.ndarray, cap: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Centred float32 coordinates ``(x, y)`` of the ink pixels, at most about ``cap`` of them
    (every k-th: the profile's shape survives, its cost does not grow with the page), each
    moved by a random fraction of a pixel so that the pixel grid's own rows and diagonals do
    not alias into the bins (without it, 0 and 45 degrees win on any page)."""
    import cv2

    pts = cv2.findNonZero(ink)  # (N, 1, 2) int32 (x, y), or None
    if pts is None:
        return np.zeros(0, np.float32), np.zeros(0, np.float32)
    pts = pts.reshape(-1, 2)
    k = max(1, -(-len(pts) // cap))
    xy = pts[::k].astype(np.float32) + (rng.random((len(pts[::k]), 2), dtype=np.float32) - np.float32(0.5))
    h, w = ink.shape
    return xy[:, 0] - np.float32(w / 2), xy[:, 1] - np.float32(h / 2)


def _scores(x: np.ndarray, y: np.ndarray, angles: np.ndarray, half: float, axes: tuple[int, ...] = (0, 1)) -> np.ndarray:
    """Profile sharpness at each angle (degrees, clockwise): the energy of the first differences
    of the row profile (axis 0) plus that of the column profile (axis 1), both along the
    tilted axes; all angles in one ``bincount``.  Returns ``(len(axes), len(angles))``.

    The profile is binned at half a pixel and smoothed by a triangle one pixel wide, which is
    the profile that splitting each point between its two nearest pixel bins would give, at the
    cost of plain counting.  Hard one-pixel bins alias: the score then jumps from one angle
    step to the next by more than the peak stands out on handwriting, and the search picks a
    false step; the smoothed profile halved the median error on every kind of page."""
    a = np.radians(angles).astype(np.float32)[:, None]  # (A, 1)
    c, s = np.cos(a) * np.float32(_SUB), np.sin(a) * np.float32(_SUB)
    n = int(2 * half * _SUB) + 3 * _SUB
    # each angle's bins start at its own offset, added in float32 with the shift to the first
    # bin, so one cast to indices and one bincount serve every angle (in place, no temporaries)
    base = (np.arange(len(angles), dtype=np.float32) * n + np.float32((half + 1) * _SUB))[:, None]  # (A, 1)
    out = []
    for axis in axes:
        if axis == 0:  # (A, N): the page turned back by each angle
            r = y * c
            r -= x * s
        else:
            r = x * c
            r += y * s
        r += base
        prof = np.bincount(r.astype(np.intp).ravel(), minlength=n * len(angles)).reshape(len(angles), n)
        prof = prof.astype(np.float32)
        tri = prof[:, :-2] + 2 * prof[:, 1:-1] + prof[:, 2:]  # the triangle, at half-pixel steps
        d = tri[:, _SUB:] - tri[:, :-_SUB]  # differences one pixel apart
        out.append(np.einsum("ij,ij->i", d, d))
    return np.stack(out)


def _wrap(a: float) -> float:
    return float((a + 45.0) % 90.0 - 45.0)


def _parabola(s: np.ndarray, i: int) -> float:
    """Offset (in steps, within ±0.5) of the vertex of the parabola through ``s[i-1:i+2]``."""
    if i <= 0 or i >= len(s) - 1:
        return 0.0
    den = s[i - 1] - 2 * s[i] + s[i + 1]
    return 0.0 if den >= 0 else float(np.clip(0.5 * (s[i - 1] - s[i + 1]) / den, -0.5, 0.5))


def _blobs(ink: np.ndarray) -> int:
    import cv2

    return int(cv2.connectedComponents(ink, connectivity=8)[0]) - 1


def _search(x: np.ndarray, y: np.ndarray, half: float, grid: np.ndarray, axis: int) -> tuple[float, np.ndarray]:
    """``(best angle, scores)`` over ``grid`` along ``axis``; the best angle is refined by a
    parabola through its neighbours' scores."""
    sc = _scores(x, y, grid, half, (axis,))[0]
    i = int(sc.argmax())
    step = float(grid[1] - grid[0]) if len(grid) > 1 else 0.0
    return float(grid[i] + _parabola(sc, i) * step), sc


_BAND = (1 / 40, 1 / 2.5)  # spatial frequencies (cycles per pixel of the coarse copy) that vote


@functools.lru_cache(maxsize=16)
def _spectrum_geometry(h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For an ``(h, w)`` copy: its Hann window, the (flat) indices of the real FFT's samples in
    the voting band, each one's :data:`COARSE_STEP` bin of the tilt, and the samples per bin.
    The same for every page of one size, so it is computed once per size."""
    win = np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
    fy = np.fft.fftfreq(h).astype(np.float32)[:, None]
    fx = np.fft.rfftfreq(w).astype(np.float32)[None, :]
    r = np.hypot(fx, fy)
    band = np.flatnonzero((r >= _BAND[0]) & (r <= _BAND[1]))
    theta = np.degrees(np.arctan2(np.broadcast_to(fy, r.shape), np.broadcast_to(fx, r.shape))).ravel()[band]
    fold = (theta + 45.0) % 90.0  # the tilt, modulo 90, shifted to [0, 90)
    n = int(round(90.0 / COARSE_STEP))
    bins = (fold / COARSE_STEP).astype(np.int64) % n
    count = np.bincount(bins, minlength=n)  # the frequency grid holds more samples along its axes and diagonals
    return win, band, bins, np.maximum(count, 1)


def _spectrum(density: np.ndarray) -> np.ndarray:
    """Votes for each :data:`COARSE_STEP` bin of ``[-45, 45)`` from the 2-D spectrum of the
    coarse ink density: text lines, and the strokes of letters, put their energy on the normal
    to their direction, and a clockwise tilt turns the spectrum clockwise by the same angle
    (Hann-windowed, so the copy's own edges do not vote for 0).  Each bin's votes are divided
    by its number of frequency samples."""
    h, w = density.shape
    win, band, bins, count = _spectrum_geometry(h, w)
    mag = np.abs(np.fft.rfft2((density - density.mean()) * win)).ravel()[band]
    votes = np.bincount(bins, weights=mag, minlength=len(count)) / count
    return (np.roll(votes, 1) + 2 * votes + np.roll(votes, -1)) / 4  # circular [1, 2, 1] smoothing


def _coarse(ink: np.ndarray, side: int) -> tuple[np.ndarray, float] | None:
    """The spectrum's votes (:func:`_spectrum`) of the ink map ``ink`` (0/1 uint8) shrunk to
    ``side``, and their confidence (``1 - median / max``); None when that copy shows fewer than
    :data:`MIN_BLOBS` marks."""
    density = _shrink(ink * np.uint8(255), side).astype(np.float32)
    if _blobs((density >= 64).astype(np.uint8)) < MIN_BLOBS:
        return None
    votes = _spectrum(density)
    top = float(votes.max())
    return votes, (float(1.0 - np.median(votes) / top) if top > 0 else 0.0)


def _peaks(votes: np.ndarray, k: int) -> list[int]:
    """The highest bin of the circular ``votes``, and up to ``k - 1`` more at least
    ``MID_SPAN`` degrees from it and each other whose votes come within :data:`RUNNER_UP`
    of it.  On a page of evenly spaced lines the spectrum's peaks are points of the frequency
    grid, a degree or more off the true direction, and two of them can tie: the profiles then
    decide between them.  Elsewhere the runner-up is a false peak more often than not (the
    profiles' own maximum far from the spectrum's answer is a false one on handwriting), so it
    is only searched when it is that close."""
    n, gap = len(votes), int(round(MID_SPAN / COARSE_STEP))
    out: list[int] = []
    for i in np.argsort(votes)[::-1]:
        if votes[i] < RUNNER_UP * votes.max():
            break
        if all(min(abs(int(i) - j), n - abs(int(i) - j)) >= gap for j in out):
            out.append(int(i))
            if len(out) == k:
                break
    return out


def estimate_skew(gray, coarse_side: int = COARSE_SIDE, fine_side: int = FINE_SIDE) -> Skew:
    """The clockwise tilt of the page in ``gray`` (``(H, W)`` uint8, paper light, ink dark; a
    PIL image or an ``(H, W, 3)`` array is converted), in degrees in ``[-45, 45)``.

    Three searches: the spectrum of the coarse copy votes over all of ``[-45, 45)`` in steps of
    :data:`COARSE_STEP`; projection profiles of the fine copy (rows and columns) then search
    :data:`MID_SPAN` around the winner in steps of :data:`MID_STEP`, and :data:`FINE_SPAN` around
    that in steps of :data:`FINE_STEP` along the axis that won, a parabola placing the peak
    between steps.  Deterministic (the sub-pixel jitter is seeded).  A page with no ink at all
    is ``Skew(0.0, 0.0, True, ...)``, never an exception.
    """
    import cv2

    g = _gray(gray)
    rng = np.random.default_rng(0)
    fine = _drop_long(_ink(g, fine_side))
    if int(np.count_nonzero(fine)) < MIN_INK:
        return Skew(0.0, 0.0, True, "too little text to tell")
    h, w = fine.shape
    coarse = _coarse(fine, coarse_side)
    if coarse is None:
        return Skew(0.0, 0.0, True, "too little text to tell")
    votes, conf = coarse
    x, y = _coords(fine, FINE_CAP, rng)
    half = float(np.hypot(h, w)) / 2
    span = np.arange(-MID_SPAN, MID_SPAN + MID_STEP / 2, MID_STEP)
    mid = np.concatenate([c * COARSE_STEP - 45.0 + span for c in _peaks(votes, CANDIDATES)])
    m = max(1, -(-len(x) // MID_CAP))
    sc = _scores(x[::m], y[::m], mid, half)  # (2, A): fewer points do for quarter-degree steps
    axis, j = np.unravel_index(int(sc.argmax()), sc.shape)
    grid = mid[j] + np.arange(-FINE_SPAN, FINE_SPAN + FINE_STEP / 2, FINE_STEP)
    angle, _ = _search(x, y, half, grid, int(axis))
    angle = _wrap(angle)
    review = conf < MIN_CONFIDENCE
    return Skew(round(angle, 3), round(conf, 4), review, "no clear text lines" if review else None)


def coarse_tilt(ink: np.ndarray, side: int = COARSE_SIDE) -> float:
    """The clockwise tilt (degrees, ``[-45, 45)``) of an ink map (bool or 0/1 uint8, 1 = ink),
    from the coarse spectrum alone: the step of :func:`estimate_skew` that costs about a
    millisecond and is right to within a degree or two.  0.0 when the map is too small, has too
    few marks, or its peak is not sharp (confidence below :data:`MIN_CONFIDENCE`), so a page
    without clear lines is never turned on its word.  The window engine levels a tilted page
    with it before cutting windows."""
    ink = np.asarray(ink).view(np.uint8) if np.asarray(ink).dtype == np.bool_ else np.asarray(ink, np.uint8)
    if ink.ndim != 2 or min(ink.shape) < 16 or int(np.count_nonzero(ink)) < MIN_INK:
        return 0.0
    coarse = _coarse(ink, side)
    if coarse is None or coarse[1] < MIN_CONFIDENCE:
        return 0.0
    votes = coarse[0]
    i = int(votes.argmax())
    n = len(votes)
    off = _parabola(votes[[(i - 1) % n, i, (i + 1) % n]], 1)  # the bins wrap around
    return _wrap((i + 0.5 + off) * COARSE_STEP - 45.0)  # bin i holds [i, i + 1) steps above -45


# --------------------------------------------------------------------------- deskewed copies
def _luma(a: np.ndarray, cmyk: bool = False) -> np.ndarray:
    """Lightness of pixels ``(N, bands)``: the luminance of the first three bands of colour,
    the first band of grey (+ alpha); for CMYK, the light its inks let through."""
    if cmyk:
        f = a.astype(np.float64) / 255.0
        return 255.0 * (1 - f[:, 3]) * (1 - f[:, :3].mean(1))
    if a.shape[1] >= 3:
        return a[:, :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    return a[:, 0].astype(np.float64)


def paper_colour(img) -> int | float | tuple:
    """The paper colour of PIL image ``img``, in its own mode (an int or float for one band, a
    tuple for several), estimated from the page's own border: the median of the lighter half
    of a band 2 % of the short side wide all round.  A border darker than half the page's own
    light level (a scanner's black bed, a photo's table top) is not paper: then the median of
    the page's lightest tenth is taken.  So the fill is never black on a light page."""
    if img.mode in ("1", "P"):
        img = img.convert("L" if img.mode == "1" else "RGB")
    cmyk = img.mode == "CMYK"
    a = np.asarray(img)
    if a.ndim == 2:
        a = a[..., None]
    h, w, bands = a.shape
    b = max(1, round(0.02 * min(h, w)))
    border = np.concatenate([a[:b].reshape(-1, bands), a[-b:].reshape(-1, bands),
                             a[b:-b, :b].reshape(-1, bands), a[b:-b, -b:].reshape(-1, bands)])
    lum = _luma(border, cmyk)
    col = np.median(border[lum >= np.median(lum)], axis=0)
    step = max(1, int(np.sqrt(h * w / 250_000)))
    page = a[::step, ::step].reshape(-1, bands)
    plum = _luma(page, cmyk)
    light = np.percentile(plum, 90)
    if _luma(col[None], cmyk)[0] < 0.5 * light:
        col = np.median(page[plum >= light], axis=0)
    if a.dtype.kind in "iub":
        col = np.rint(col).astype(np.int64)
    vals = tuple(v.item() for v in col)
    return vals[0] if bands == 1 else vals


def deskew_image(img, angle_cw: float):
    """``img`` (PIL) turned COUNTER-clockwise by ``angle_cw`` degrees, which undoes a clockwise
    tilt of ``angle_cw`` (:func:`estimate_skew`'s ``angle``).

    Bicubic resampling on a canvas grown to hold the whole turned page (nothing is cropped);
    the corners it exposes are filled with :func:`paper_colour`, never black.  Bilevel pages
    ("1", fax) are resampled in grey and thresholded back to bilevel; palette images become
    RGB (RGBA with transparency).  An angle below 0.005 degrees returns a copy."""
    from PIL import Image

    if not np.isfinite(angle_cw):
        raise ValueError(f"deskew_image: the angle must be a finite number of degrees, got {angle_cw!r}")
    if abs(angle_cw) < 0.005:
        return img.copy()
    mode = img.mode
    if mode == "1":
        work = img.convert("L")
    elif mode == "P":
        work = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        work = img.convert("I")
    else:
        work = img
    fill = paper_colour(work)
    resample = Image.Resampling.BICUBIC if work.mode in ("L", "LA", "RGB", "RGBA", "RGBX", "CMYK", "I", "F") \
        else Image.Resampling.BILINEAR
    out = work.rotate(float(angle_cw), resample=resample, expand=True, fillcolor=fill)
    if mode == "1":
        return out.point(lambda v: 255 if v >= 128 else 0, mode="1")
    if work is not img and mode.startswith("I;16"):
        return out.convert(mode) if mode in ("I;16",) else out
    out.info = dict(img.info)
    return out


class SkewPrep:
    """A render-worker ``prep`` (:class:`datagen.pages.PageJob`) that adds the page's
    :class:`Skew`, estimated on the full page as read, under ``extra["skew"]``, to what an
    ``inner`` prep (the window model's) makes.  Picklable; ``draft_side`` asks JPEG decoding for
    at least :data:`FINE_SIDE` px, so the estimate sees the resolution it was measured at."""

    def __init__(self, inner=None):
        self.inner = inner
        self.draft_side = max(FINE_SIDE, int(getattr(inner, "draft_side", 0) or 0))
        self.needs_fit = bool(getattr(inner, "needs_fit", True))

    def __call__(self, gray: np.ndarray) -> dict:
        extra = dict(self.inner(gray)) if self.inner is not None else {}
        extra["skew"] = estimate_skew(gray)
        return extra
