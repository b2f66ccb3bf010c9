"""trainer/models.py: architectures on 1-channel input, Grad-CAM layer lookup, safe checkpoints."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from trainer.models import (ARCHS, FORMAT, build_model, last_conv_block, load_checkpoint, save_checkpoint)


@pytest.mark.parametrize("arch", ["resnet18", "mobilenet_v3_small", "efficientnet_b0"])
def test_arch_builds_one_channel_four_classes(arch):
    torch.manual_seed(0)
    model = build_model(arch).eval()
    first = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    assert first.in_channels == 1
    with torch.no_grad():
        out = model(torch.rand(2, 1, 64, 64))
    assert out.shape == (2, 4) and torch.isfinite(out).all()
    assert isinstance(last_conv_block(model), nn.Module)


def test_model_normalises_its_input_itself():
    """Inputs are [0, 1] pages; the model applies (x - 0.5) / 0.5 before the backbone."""
    torch.manual_seed(0)
    model = build_model("resnet18").eval()
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(x), model.backbone((x - 0.5) / 0.5))


def test_unknown_arch_lists_choices():
    with pytest.raises(ValueError, match="resnet18") as e:
        build_model("vgg11")
    assert "efficientnet_b0" in str(e.value)
    assert {"resnet18", "mobilenet_v3_small", "efficientnet_b0"} <= set(ARCHS)


def test_checkpoint_round_trip_is_atomic_and_weights_only(tmp_path):
    model = build_model("resnet18")
    p = tmp_path / "m.pt"
    save_checkpoint(p, {"format": FORMAT, "arch": "resnet18", "classes": [0, 90, 180, 270], "input_size": 64,
                        "model": model.state_dict()})
    assert [f.name for f in tmp_path.iterdir()] == ["m.pt"]  # no temporary file left
    ck = load_checkpoint(p)
    assert ck["arch"] == "resnet18" and torch.equal(ck["model"]["backbone.fc.weight"], model.backbone.fc.weight)


def test_damaged_checkpoint_is_a_clear_error(tmp_path):
    p = tmp_path / "half.pt"
    good = tmp_path / "good.pt"
    torch.save({"format": FORMAT, "x": torch.zeros(1000)}, good)
    p.write_bytes(good.read_bytes()[:500])
    with pytest.raises(ValueError, match="refused"):
        load_checkpoint(p)
    with pytest.raises(ValueError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
