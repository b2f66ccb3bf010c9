"""Rendering library: both renderers, the pixel cap, the worker pool's time limit and crash handling."""
from __future__ import annotations

import os
import time

import numpy as np
import pytest
from PIL import Image

from datagen.render import RenderError, RenderPool, Task, page_sizes, render_page


# these tests render in the test process: close what pdfium cached afterwards (conftest)
pytestmark = pytest.mark.usefixtures("close_cached_pdfium_documents")


@pytest.mark.parametrize("renderer", ["pdfium", "poppler"])
def test_render_page_sizes_and_pixels(vector_pdf, renderer):
    pdf = str(vector_pdf("v", pages=2, width=288, height=360))
    assert page_sizes(pdf, renderer) == [(288.0, 360.0), (288.0, 360.0)]
    arr = render_page(pdf, 1, 50, renderer)
    assert arr.dtype == np.uint8 and arr.shape == (250, 200)
    assert arr[0, 0] == 255 and arr.min() < 64  # white paper, black ink


@pytest.mark.parametrize("renderer", ["pdfium", "poppler"])
def test_pixel_cap_refuses_before_rendering(vector_pdf, renderer):
    pdf = str(vector_pdf("v", width=288, height=360))
    with pytest.raises(RenderError, match="exceeds the pixel cap"):
        render_page(pdf, 0, 50, renderer, max_pixels=250 * 200 - 1)
    assert render_page(pdf, 0, 50, renderer, max_pixels=250 * 200).shape == (250, 200)


def test_unknown_renderer_lists_the_choices(vector_pdf):
    with pytest.raises(ValueError, match="pdfium, poppler"):
        page_sizes(str(vector_pdf("v")), "mupdf")


@pytest.mark.parametrize("width_px", [168, 170])
def test_renderers_agree_on_the_pixel_size(tmp_path, width_px):
    """A 170 px image page embedded at 100 dpi is 122.4 pt wide: exactly 85 px at 50 dpi.
    pdf2image/poppler gives 85; the pixel size must not depend on the renderer (the default
    renderer is chosen as 'equivalent' to the other)."""
    pdf = tmp_path / f"w{width_px}.pdf"
    Image.new("L", (width_px, 220), 128).save(pdf, resolution=100)
    expect = (110, width_px // 2)
    assert render_page(str(pdf), 0, 50, "poppler").shape == expect
    assert render_page(str(pdf), 0, 50, "pdfium").shape == expect


def test_pdfium_render_sees_a_replaced_file(vector_pdf, tmp_path):
    """Rendering the same path after the file changed must render the new file, not a cached
    document (a long-running process, or workers forked from it, would serve stale pages)."""
    a = vector_pdf("a", width=288, height=360, folder=tmp_path / "x")
    b = vector_pdf("b", width=360, height=288, folder=tmp_path / "y")
    target = tmp_path / "doc.pdf"
    target.write_bytes(a.read_bytes())
    assert render_page(str(target), 0, 50, "pdfium").shape == (250, 200)
    os.replace(b, target)
    assert page_sizes(str(target), "pdfium") == [(360.0, 288.0)]
    assert render_page(str(target), 0, 50, "pdfium").shape == (200, 250)


def _job(task: Task):
    if task.payload == "hang":
        time.sleep(60)
    if task.payload == "crash":
        os._exit(3)
    if task.payload == "render-error":
        raise RenderError("nope")
    if task.payload == "bug":
        raise KeyError("surprise\nsecond line")
    return task.index * 10


def test_render_pool_keeps_order_and_survives_hangs_and_crashes():
    payloads = [None, "hang", None, "crash", None, "render-error", "bug", None]
    tasks = [Task("page", "x.pdf", i, p) for i, p in enumerate(payloads)]
    with RenderPool(_job, workers=2, timeout=0.5) as pool:
        got = list(pool.imap(tasks))
    assert [t.index for t, _, _ in got] == list(range(len(tasks)))  # submission order
    status = {t.index: (s, v) for t, s, v in got}
    assert status[0] == ("ok", 0) and status[2] == ("ok", 20) and status[4] == ("ok", 40) and status[7] == ("ok", 70)
    assert status[1][0] == "skip" and "timed out after 0.5 s" in status[1][1]
    assert status[3][0] == "skip" and "crashed" in status[3][1] and "3" in status[3][1]
    assert status[5] == ("skip", "nope")
    assert status[6][0] == "skip" and "KeyError" in status[6][1] and "\n" not in status[6][1]


def test_render_pool_refuses_bad_settings():
    with pytest.raises(ValueError, match="workers must be >= 1"):
        RenderPool(_job, workers=0)
    with pytest.raises(ValueError, match="timeout must be > 0"):
        RenderPool(_job, timeout=0)
