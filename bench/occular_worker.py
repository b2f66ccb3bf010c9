"""The occular-deskew child of ``bench.peers``: run with the Python of the virtual environment that
holds ``occular-deskew`` (it may clash with this project's dependencies), never imported here.

Reads image paths on standard input, one a line; writes one JSON line per image to standard
output, ``{"file", "raw", "error", "sec"}``, ``raw`` being what ``occular_deskew.detect_angle``
returns (the counter-clockwise turn, in degrees, 0-359 with the fine skew, that makes the page
upright), then a ``{"_meta": {...}}`` line.  Images are opened as the other contenders see them
(EXIF orientation applied) and given as RGB.  Only the standard library, PIL and occular_deskew
are imported; whatever the library prints goes to standard error.
"""
import json
import sys
import time

t0 = time.perf_counter()
out, sys.stdout = sys.stdout, sys.stderr    # the library's own prints must not mix with the answers

from importlib.metadata import version  # noqa: E402

from PIL import Image, ImageOps  # noqa: E402
from occular_deskew import detect_angle  # noqa: E402

meta = {"occular_deskew": version("occular-deskew"), "onnxruntime": version("onnxruntime"),
        "load_s": time.perf_counter() - t0}
for line in sys.stdin:
    f = line.rstrip("\n")
    if not f:
        continue
    t = time.perf_counter()
    try:
        with Image.open(f) as im:
            im.load()
            im = ImageOps.exif_transpose(im)
            rec = {"raw": float(detect_angle(im.convert("RGB"))), "error": None}
    except Exception as e:  # one bad image is one failed answer, not a failed run
        rec = {"raw": None, "error": (type(e).__name__ + ": " + str(e))[:200]}
    rec.update(file=f, sec=time.perf_counter() - t)
    out.write(json.dumps(rec) + "\n")
    out.flush()
out.write(json.dumps({"_meta": meta}) + "\n")
