"""The whole-page model beside a window model: ``trainer export --whole`` stores its input spec,
so prediction opens it only when a page without text comes; it then answers such pages a few at
a time.  Skipped with a reason where onnx/onnxruntime are absent (CI installs them)."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import cli_explain, cli_invoke

pytest.importorskip("onnxruntime", reason="the onnx extra (onnxruntime) is not installed")
pytest.importorskip("onnx", reason="the onnx extra (onnx) is not installed")


@pytest.fixture(scope="module")
def window_and_whole(tiny_models, tmp_path_factory):
    import torch

    from trainer.cli import main
    from trainer.glyphnet import GlyphNet
    from trainer.windowfit import WindowFit, checkpoint

    d = tmp_path_factory.mktemp("window-whole")
    r = cli_invoke(main, "export", tiny_models["exact"], "--onnx", d / "whole.onnx")
    assert r.exit_code == 0, cli_explain(r)
    torch.manual_seed(0)
    pt = d / "windows.pt"
    torch.save(checkpoint(GlyphNet(), {"win": 64, "config": {"target": 7.0}, "counts": {}}, WindowFit(k=8), 1.0, []), pt)
    return d, pt


def _export(pt, *args):
    from trainer.cli import main

    r = cli_invoke(main, "export", pt, *args)
    assert r.exit_code == 0, cli_explain(r)
    return r


def test_export_stores_the_whole_models_input_and_loading_defers_it(window_and_whole, tiny_models):
    import torch

    from trainer.infer import OnnxEngine, input_spec
    from trainer.loading import LazyWhole, load_engine

    d, pt = window_and_whole
    size = torch.load(tiny_models["exact"], map_location="cpu", weights_only=True)["input_size"]
    _export(pt, "--onnx", d / "w.onnx", "--pt", d / "w.pt", "--whole", "whole.onnx")
    want = input_spec(OnnxEngine(d / "whole.onnx").meta)
    assert want[0] == size
    for model in ("w.onnx", "w.pt"):
        loaded = load_engine(d / model, device="cpu")
        eng = loaded.engine
        assert loaded.meta["whole_input"] == list(want)
        assert isinstance(eng.whole, LazyWhole) and eng.whole._engine is None, model  # not opened at load
        assert eng.whole_spec == want
        x = np.random.default_rng(1).integers(0, 256, (3, size, size), dtype=np.uint8)
        probs, infos = eng.answers([("whole", xi, {"windows": 0}) for xi in x])
        assert eng.whole._engine is not None  # opened by the first page without text
        direct, _ = OnnxEngine(d / "whole.onnx").predict(x)
        np.testing.assert_allclose(probs, direct, atol=1e-6)
        assert [i["basis"] for i in infos] == ["whole"] * 3


def test_a_window_model_without_the_stored_spec_opens_its_whole_model_at_start(window_and_whole):
    from trainer.infer import OnnxEngine
    from trainer.loading import load_engine

    d, pt = window_and_whole
    sub = d / "later"
    sub.mkdir()
    r = _export(pt, "--pt", sub / "w.pt", "--whole", "whole.onnx")  # no whole model beside it yet
    assert "not there yet" in r.output
    (sub / "whole.onnx").write_bytes((d / "whole.onnx").read_bytes())
    loaded = load_engine(sub / "w.pt", device="cpu")
    assert "whole_input" not in loaded.meta
    assert isinstance(loaded.engine.whole, OnnxEngine)


def test_whole_pages_are_answered_a_few_at_a_time(window_and_whole, monkeypatch):
    from trainer import windowinfer
    from trainer.loading import load_engine

    d, pt = window_and_whole
    _export(pt, "--pt", d / "c.pt", "--whole", "whole.onnx")
    eng = load_engine(d / "c.pt", device="cpu").engine
    size = eng.whole_spec[0]
    x = np.random.default_rng(2).integers(0, 256, (5, size, size), dtype=np.uint8)
    all_at_once, _ = eng.whole.predict(x)
    sizes = []
    real = eng.whole.predict
    monkeypatch.setattr(eng.whole, "predict", lambda b: (sizes.append(len(b)), real(b))[1])
    probs, _ = eng.answers([("whole", xi, {"windows": 0}) for xi in x])
    assert sizes == [windowinfer.WHOLE_CHUNK] * 2 + [5 - 2 * windowinfer.WHOLE_CHUNK]
    np.testing.assert_allclose(probs, all_at_once, atol=1e-6)
