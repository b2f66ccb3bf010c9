"""interpret/methods.py against gradients computed by hand on tiny models and on the real ResNet18."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from interpret.methods import METHODS, attribute, count_hooks, get_method


class TinyConv(nn.Module):
    """conv -> ReLU -> conv (the last conv, Grad-CAM's layer) -> ReLU -> mean pool -> linear."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 6, 3, stride=2, padding=1)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(6, 4)

    def feature_map(self, x):  # (B, 1, H, W) -> (B, 6, H/2, W/2), the last conv's output
        return self.conv2(F.relu(self.conv1(x)))

    def head(self, a):
        return self.fc(self.relu(a).mean(dim=(2, 3)))

    def forward(self, x):
        return self.head(self.feature_map(x))


class Linear(nn.Module):
    def __init__(self, h, w):
        super().__init__()
        self.fc = nn.Linear(h * w, 4)

    def forward(self, x):
        return self.fc(x.flatten(1))


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    return TinyConv().eval()


@pytest.fixture
def batch():
    torch.manual_seed(1)
    return torch.rand(3, 1, 12, 12), torch.tensor([0, 2, 3])


def hand_grad(model, x, t):
    x = x.clone().requires_grad_(True)
    model(x).gather(1, t[:, None]).sum().backward()
    return x.grad


def test_saliency_is_the_absolute_input_gradient(tiny, batch):
    x, t = batch
    got = attribute(tiny, x, t, "saliency")
    assert got.shape == (3, 12, 12)
    want = hand_grad(tiny, x, t).abs()[:, 0]
    assert want.abs().max() > 0
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("steps", [2, 5])
def test_integrated_gradients_on_a_linear_model_is_exact(batch, steps):
    """For a linear model IG from the blank page (all ones) is (x - 1) * w_t exactly, any step count."""
    x, t = batch
    torch.manual_seed(2)
    model = Linear(12, 12).eval()
    got = attribute(model, x, t, "integrated-gradients", steps=steps)
    w = model.fc.weight.detach()[t].view(3, 12, 12)  # (B, H, W)
    want = ((x[:, 0] - 1.0) * w).abs()
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    # completeness: the signed attributions add up to f(x) - f(baseline)
    with torch.no_grad():
        delta = model(x).gather(1, t[:, None])[:, 0] - model(torch.ones_like(x)).gather(1, t[:, None])[:, 0]
    torch.testing.assert_close(((x[:, 0] - 1.0) * w).flatten(1).sum(1), delta, rtol=1e-4, atol=1e-5)


def test_gradcam_matches_a_hand_computation(tiny, batch):
    x, t = batch
    got = attribute(tiny, x, t, "gradcam")
    a = tiny.feature_map(x).detach().requires_grad_(True)  # (B, K, h, w)
    tiny.head(a).gather(1, t[:, None]).sum().backward()
    alpha = a.grad.mean(dim=(2, 3), keepdim=True)  # (B, K, 1, 1)
    cam = F.relu((alpha * a.detach()).sum(1, keepdim=True))  # (B, 1, h, w)
    want = F.interpolate(cam, size=(12, 12), mode="bilinear", align_corners=False)[:, 0]
    assert want.max() > 0
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)


class _GuidedReLUFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad.clamp(min=0) * (x > 0).to(grad.dtype)


class _GuidedReLU(nn.Module):
    def forward(self, x):
        return _GuidedReLUFn.apply(x)


def hand_guided_backprop(model, x, t):
    m = copy.deepcopy(model)
    for name, mod in list(m.named_modules()):
        if isinstance(mod, nn.ReLU):
            parent = m
            *path, leaf = name.split(".")
            for p in path:
                parent = getattr(parent, p)
            setattr(parent, leaf, _GuidedReLU())
    assert not any(isinstance(mod, nn.ReLU) for mod in m.modules())
    return hand_grad(m.eval(), x, t).abs()[:, 0]


def test_guided_backprop_on_the_real_resnet18():
    """torchvision's ResNet18 reuses each block's in-place ReLU twice; the result must still be
    exactly guided backprop, and the user's model must come out unchanged."""
    from trainer.models import build_model

    torch.manual_seed(0)
    model = build_model("resnet18").eval()
    inplace_before = [m.inplace for m in model.modules() if isinstance(m, nn.ReLU)]
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    x, t = torch.rand(2, 1, 64, 64), torch.tensor([1, 3])
    got = attribute(model, x, t, "guided-backprop")
    want = hand_guided_backprop(model, x, t)
    assert got.shape == (2, 64, 64) and want.max() > 0
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4 * float(want.max()))
    # and it is not the plain gradient (the test can tell them apart)
    assert not torch.allclose(want, hand_grad(model, x, t).abs()[:, 0], rtol=1e-2, atol=1e-3 * float(want.max()))
    assert [m.inplace for m in model.modules() if isinstance(m, nn.ReLU)] == inplace_before
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in sd.items())
    # a later weight change is seen (the method must not keep a stale copy of the model)
    with torch.no_grad():
        model.backbone.fc.weight.mul_(-1)
    torch.testing.assert_close(attribute(model, x, t, "guided-backprop"), hand_guided_backprop(model, x, t),
                               rtol=1e-4, atol=1e-4 * float(want.max()))


@pytest.mark.parametrize("method", METHODS)
def test_every_method_returns_non_negative_b_h_w(tiny, batch, method):
    x, t = batch
    a = attribute(tiny, x, t, method, steps=4, batch_size=2)  # batching: 2 + 1
    assert a.shape == (3, 12, 12) and a.dtype == torch.float32 and a.device.type == "cpu"
    assert (a >= 0).all() and a.sum() > 0
    assert torch.isfinite(a).all()
    assert tiny.training is False and count_hooks(tiny) == 0


def test_attribute_keeps_the_models_training_mode(tiny, batch):
    x, t = batch
    tiny.train()
    attribute(tiny, x, t, "saliency")
    assert tiny.training


def test_count_hooks_sees_a_hook():
    m = TinyConv()
    h = m.conv2.register_forward_hook(lambda *a: None)
    assert count_hooks(m) == 1
    h.remove()
    assert count_hooks(m) == 0


_BOOM = {"on": False}


class _MaybeBoom(nn.Module):
    """Identity, or an error inside the forward pass while ``_BOOM["on"]`` (a global, so that
    copies of the model raise too)."""

    def forward(self, x):
        if _BOOM["on"]:
            raise RuntimeError("boom")
        return x


@pytest.mark.parametrize("method", METHODS)
def test_hooks_never_outlive_a_call_even_on_error(method, monkeypatch):
    from interpret import methods as M
    from trainer.models import build_model

    twins = []  # guided backprop's non-in-place copies: their hooks must be gone too
    real_copy = M._non_inplace_copy
    monkeypatch.setattr(M, "_non_inplace_copy", lambda m: twins.append(real_copy(m)) or twins[-1])

    torch.manual_seed(0)
    model = build_model("resnet18").eval()
    model.backbone.fc = nn.Sequential(model.backbone.fc, _MaybeBoom())
    x = torch.rand(2, 1, 32, 32)
    with pytest.raises(Exception):
        attribute(model, x, torch.tensor([0, 7]), method, steps=2)  # target 7 of 4 classes
    assert count_hooks(model) == 0
    assert all(count_hooks(t) == 0 for t in twins)
    # an error inside the forward pass, while the method's hooks are in place
    _BOOM["on"] = True
    try:
        with pytest.raises(RuntimeError, match="boom"):
            attribute(model, x, torch.tensor([0, 3]), method, steps=2)
    finally:
        _BOOM["on"] = False
    assert count_hooks(model) == 0
    assert all(count_hooks(t) == 0 for t in twins)
    assert (method == "guided-backprop") == bool(twins)
    a = attribute(model, x, torch.tensor([0, 3]), method, steps=2)  # and the model still works
    assert a.shape == (2, 32, 32) and count_hooks(model) == 0


@pytest.mark.parametrize("change", ["new head", "new pooling"])
def test_guided_backprop_follows_a_model_changed_in_place(change):
    """A user who swaps a layer of their model and explains it again must get guided backprop of
    the model as it is now, not of a copy cached at the first call (a parameter-free swap, the
    pooling, would otherwise be silently ignored)."""
    from trainer.models import build_model

    torch.manual_seed(0)
    model = build_model("resnet18").eval()
    x, t = torch.rand(2, 1, 64, 64), torch.tensor([1, 2])  # 64 px: layer4 is 2x2, so the pooling matters
    attribute(model, x, t, "guided-backprop")
    if change == "new head":
        model.backbone.fc = nn.Sequential(nn.Linear(512, 16), nn.ReLU(), nn.Linear(16, 4))
    else:
        model.backbone.avgpool = nn.AdaptiveMaxPool2d(1)
    got = attribute(model, x, t, "guided-backprop")
    want = hand_guided_backprop(model, x, t)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4 * float(want.max()))


def test_bad_inputs_and_unknown_method_are_clear_errors(tiny):
    with pytest.raises(ValueError, match="saliency, guided-backprop, integrated-gradients, gradcam"):
        get_method("lime")
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        attribute(tiny, torch.rand(2, 3, 8, 8), torch.tensor([0, 1]), "saliency")
    with pytest.raises(ValueError, match="one target per image"):
        attribute(tiny, torch.rand(2, 1, 8, 8), torch.tensor([0]), "saliency")
