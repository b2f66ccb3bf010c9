"""Attribution methods (captum), one registry, one verb: ``attribute(model, images, targets)``.

Every method returns a NON-NEGATIVE relevance map ``(B, H, W)`` at input resolution:
* ``saliency``             |d logit_t / d x| (vanilla gradient);
* ``guided-backprop``      |guided backpropagation| (ReLU gradients clipped to >= 0);
* ``integrated-gradients`` |IG| from a blank page (all paper, x = 1) to the input, Gauss-Legendre;
* ``gradcam``              ReLU(Grad-CAM) of the last convolutional block, bilinearly upsampled.

Guided backprop on torchvision ResNets: their ReLUs are in-place and reused within a block.
captum's hooks then warn, so the method runs on a copy of the model whose ReLUs are not
in-place (same weights); a test checks it against a hand-written guided ReLU on real ResNet18.
Hooks never outlive a call: every hook that appears on the model during a call is removed in a
``finally``, even when the call fails.
"""
from __future__ import annotations

import copy
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn

from trainer.models import last_conv_block


@dataclass(frozen=True)
class Method:
    name: str
    summary: str
    fn: Callable[..., torch.Tensor]


def _hook_dicts(model: nn.Module):
    names = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
             "_forward_hooks_with_kwargs", "_forward_pre_hooks_with_kwargs", "_forward_hooks_always_called")
    for m in model.modules():
        for n in names:
            d = getattr(m, n, None)
            if isinstance(d, dict):
                yield d


@contextmanager
def no_leftover_hooks(model: nn.Module):
    """Remove, on exit (error or not), every hook registered on ``model`` during the block."""
    before = [(d, set(d.keys())) for d in _hook_dicts(model)]
    try:
        yield
    finally:
        for d, keys in before:
            for k in list(d.keys()):
                if k not in keys:
                    del d[k]


def count_hooks(model: nn.Module) -> int:
    return sum(len(d) for d in _hook_dicts(model))


def _check(images: torch.Tensor, targets: torch.Tensor):
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"attribute expects images (B, 1, H, W), got shape {tuple(images.shape)}")
    if targets.ndim != 1 or targets.shape[0] != images.shape[0]:
        raise ValueError(f"attribute expects one target per image, got {tuple(targets.shape)} for {images.shape[0]} images")


def _saliency(model, x, t, **kw):
    from captum.attr import Saliency

    return Saliency(model).attribute(x, target=t, abs=True)


def _non_inplace_copy(model: nn.Module) -> nn.Module:
    """A fresh copy of ``model`` (same layers, same weights) whose ReLUs are not in-place.
    Copied on every call (cheap next to the backward passes), so it always matches the model."""
    twin = copy.deepcopy(model)
    for m in twin.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False
    return twin.eval()


def _guided_backprop(model, x, t, **kw):
    from captum.attr import GuidedBackprop

    twin = _non_inplace_copy(model)
    with no_leftover_hooks(twin), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*backward hooks on ReLU.*")
        warnings.filterwarnings("ignore", message=".*Setting backward hooks.*")
        return GuidedBackprop(twin).attribute(x, target=t).abs()


def _integrated_gradients(model, x, t, steps: int = 32, internal_batch_size: int | None = None, **kw):
    from captum.attr import IntegratedGradients

    baseline = torch.ones_like(x)  # a blank page: all paper
    ibs = internal_batch_size or max(1, min(64, steps * x.shape[0]))
    return IntegratedGradients(model).attribute(x, baselines=baseline, target=t, n_steps=steps,
                                                internal_batch_size=ibs, method="gausslegendre").abs()


def _gradcam(model, x, t, **kw):
    from captum.attr import LayerAttribution, LayerGradCam

    layer = last_conv_block(model)
    cam = LayerGradCam(model, layer).attribute(x, target=t, relu_attributions=True)  # (B, 1, h, w)
    return LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), interpolate_mode="bilinear").clamp_(min=0)


REGISTRY: dict[str, Method] = {
    "saliency": Method("saliency", "vanilla gradient |d logit / d input|", _saliency),
    "guided-backprop": Method("guided-backprop", "guided backpropagation (positive gradients through ReLUs)",
                              _guided_backprop),
    "integrated-gradients": Method("integrated-gradients", "integrated gradients from a blank page",
                                   _integrated_gradients),
    "gradcam": Method("gradcam", "Grad-CAM of the last convolutional block, upsampled", _gradcam),
}
METHODS = tuple(REGISTRY)


def get_method(name: str) -> Method:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown attribution method {name!r}; choose one of: {', '.join(REGISTRY)}") from None


def attribute(model: nn.Module, images: torch.Tensor, targets: torch.Tensor, method: str, batch_size: int = 32,
              **kw) -> torch.Tensor:
    """Non-negative relevance ``(B, H, W)`` of ``targets`` for ``images`` ``(B, 1, H, W)``.

    Runs in batches on the model's device; returns a CPU float tensor.  ``kw``: ``steps`` and
    ``internal_batch_size`` for integrated gradients.
    """
    m = get_method(method)
    _check(images, targets)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    outs = []
    try:
        with no_leftover_hooks(model):
            for i in range(0, images.shape[0], batch_size):
                x = images[i:i + batch_size].to(device).float().requires_grad_(True)
                t = targets[i:i + batch_size].to(device)
                a = m.fn(model, x, t, **kw)  # (b, 1, H, W)
                outs.append(a.detach().float().sum(1).clamp_(min=0).cpu())  # (b, H, W)
                model.zero_grad(set_to_none=True)
    finally:
        model.train(was_training)
    return torch.cat(outs) if outs else torch.zeros(0, *images.shape[-2:])

