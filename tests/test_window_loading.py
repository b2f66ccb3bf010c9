"""Loading a window checkpoint (``trainer fit-windows``'s ``model.pt``) for prediction reads the
file once: the read that tells it is a window checkpoint is the one the network is built from."""
from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def window_pt(tmp_path):
    import torch

    from trainer.glyphnet import GlyphNet
    from trainer.windowfit import WindowFit, checkpoint

    torch.manual_seed(3)
    net = GlyphNet()
    with torch.no_grad():  # running statistics other than the defaults, so that a copy that lost them shows
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    path = tmp_path / "model.pt"
    torch.save(checkpoint(net, {"win": 64, "config": {"target": 7.0}, "counts": {}}, WindowFit(k=8), 1.7, []), path)
    return path, net.eval()


def _counting_loads(monkeypatch):
    import torch

    calls = []
    real = torch.load

    def load(*args, **kw):
        calls.append(args[0] if args else kw.get("f"))
        return real(*args, **kw)

    monkeypatch.setattr(torch, "load", load)
    return calls


def test_a_window_checkpoint_is_read_once_when_loaded(window_pt, monkeypatch):
    import torch

    from trainer.loading import load_engine

    path, net = window_pt
    calls = _counting_loads(monkeypatch)
    loaded = load_engine(path, device="cpu")
    assert len(calls) == 1, calls
    assert loaded.meta["kind"] == "windows" and loaded.meta["k"] == 8 and loaded.meta["temperature"] == 1.7
    assert "model" not in loaded.meta and "history" not in loaded.meta
    windows = np.random.default_rng(0).integers(0, 256, (5, 64, 64), dtype=np.uint8)
    with torch.no_grad():
        want = net(torch.from_numpy(windows).unsqueeze(1).float().div_(255.0)).double().numpy()
    np.testing.assert_allclose(loaded.engine.net.logits(windows), want, rtol=1e-5, atol=1e-5)


def test_load_window_model_takes_a_checkpoint_already_read(window_pt, monkeypatch):
    import torch

    from trainer.windowfit import load_window_model

    path, _ = window_pt
    ck = torch.load(path, map_location="cpu", weights_only=True)
    calls = _counting_loads(monkeypatch)
    net, got = load_window_model(ck)
    assert calls == [] and got is ck and not net.training
    with pytest.raises(ValueError, match="not a window model checkpoint"):
        load_window_model({"kind": "whole"})


def test_a_whole_page_checkpoint_is_not_taken_for_a_window_one(tmp_path):
    import torch

    from trainer.loading import _is_window_checkpoint, _read_window_checkpoint

    other = tmp_path / "other.pt"
    torch.save({"format": 1, "model": {}}, other)
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    for p in (other, broken):
        assert _read_window_checkpoint(p) is None and not _is_window_checkpoint(p)
