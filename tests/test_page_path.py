"""One page path: a PDF page reaches the model as the same bytes whichever command reads it
(datagen build, trainer eval, trainer predict, interpret's shortcut test)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import read_shards


@pytest.fixture
def one_page(make_pdf, tmp_path):
    return make_pdf("one", pages=1, seed=11, width=170, height=230, folder=tmp_path / "in")


def test_build_eval_predict_and_shortcut_see_identical_inputs(one_page, datagen_cli, tmp_path):
    from datagen.contract import load_variant
    from datagen.pages import expand
    from trainer.data import PageSet, VariantData, open_data
    from trainer.predict import predict_pages

    size = 48
    out = tmp_path / "v"
    r = datagen_cli("build", one_page, "--out", out, "--rotation", "exact", "--size", str(size), "--split", "1,0,0",
                    "--device", "cpu", "--workers", "1", "-q")
    assert r.exit_code == 0, r.output
    built = {}
    for s in read_shards(out).values():
        meta = json.loads(s["json"])
        from datagen.contract import decode_png

        built[meta["angle"]] = decode_png(s["png"])
    assert sorted(built) == [0, 90, 180, 270]

    # trainer eval on the PDF itself: the page turned to all four angles
    ds = open_data([one_page], size, dpi=100.0, workers=1)
    assert isinstance(ds, PageSet)
    evald = {}
    for b in ds.batches(8):
        for x, m in zip(b.images, b.metas):
            evald[m["angle"]] = (x[0].numpy() * 255).round().astype(np.uint8)
    # trainer eval on the variant's shards
    shard = {}
    for b in VariantData(load_variant(out), "train", size).batches(8):
        for x, m in zip(b.images, b.metas):
            shard[m["angle"]] = (x[0].numpy() * 255).round().astype(np.uint8)

    # trainer predict: the upright page as predict feeds it
    class Spy:
        seen = []

        def predict(self, x):
            self.seen.extend(x)
            p = np.full((len(x), 4), 0.25)
            return p, None

    spy = Spy()
    predict_pages(spy, expand([one_page]), size, 100.0, workers=1)
    # interpret's shortcut test: the clean turns it feeds
    from interpret.shortcut import _inputs
    from datagen.strategies import get_strategy

    page = next(ds.upright())
    inputs, tags = _inputs(page, size, get_strategy("exact"))
    clean = {a: img for img, (kind, a, _) in zip(inputs, tags) if kind == "clean"}
    own = {a: img for img, (kind, a, _) in zip(inputs, tags) if kind == "own"}

    for a in (0, 90, 180, 270):
        ref = built[a]
        assert ref.dtype == np.uint8 and ref.shape == (size, size)
        for name, got in (("eval on the PDF", evald[a]), ("eval on shards", shard[a]), ("shortcut clean", clean[a]),
                          ("shortcut own exact sample", own[a])):
            assert np.array_equal(got, ref), f"{name} differs from the build at {a} degrees"
    assert len(spy.seen) == 1 and np.array_equal(spy.seen[0], built[0]), "predict differs from the build"


def test_an_image_of_the_page_is_prepared_like_the_pdf_page(one_page, tmp_path, close_cached_pdfium_documents):
    """The same pixels as a PNG file give the same model input as the rendered PDF page."""
    from PIL import Image

    from datagen.pages import iter_pages, source
    from datagen.render import render_page

    arr = render_page(str(one_page), 0, 100.0, "pdfium")
    png = tmp_path / "page.png"
    Image.fromarray(arr).save(png)
    a, b = list(iter_pages([source(one_page), source(png)], 48, dpi=100.0))
    assert np.array_equal(a.fitted, b.fitted) and a.paper == b.paper and a.src_size == b.src_size
