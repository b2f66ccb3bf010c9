"""Models and checkpoints.

Grayscale handling (documented in README): the network takes ONE channel.  The first 3-channel
convolution of the torchvision classifier is replaced by a 1-channel one; with ImageNet weights
(``--weights``) its kernels are summed over RGB, which is what a gray image copied to three
channels would see.  Inputs are [0, 1] pages (paper = 1); the model normalises them itself
(``(x - 0.5) / 0.5``), so attributions and baselines live in image space.

Checkpoints are plain dicts of tensors and primitives, loaded with ``weights_only=True`` only.
"""
from __future__ import annotations

import os
from contextlib import nullcontext
import pickle
from pathlib import Path

import torch
import torch.nn as nn
import torchvision

from datagen.contract import CLASSES

from .options import ARCHS  # the choices live in a torch-free module (the CLI lists them)


def autocast(device: torch.device):
    """bf16 autocast on CUDA; plain fp32 on the CPU (same code path, no-op context)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()

FORMAT = "docorient-model/1"
MEAN, STD = 0.5, 0.5


class OrientationNet(nn.Module):
    """A torchvision classifier on 1-channel [0, 1] pages with built-in normalisation."""

    def __init__(self, backbone: nn.Module, mean: float = MEAN, std: float = STD):
        super().__init__()
        self.backbone = backbone
        self.register_buffer("mean", torch.tensor(mean), persistent=False)
        self.register_buffer("std", torch.tensor(std), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, H, W) -> (B, 4)
        return self.backbone((x - self.mean) / self.std)


def _replace_first_conv(model: nn.Module, pretrained: bool) -> None:
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Conv2d) and mod.in_channels == 3:
            new = nn.Conv2d(1, mod.out_channels, mod.kernel_size, mod.stride, mod.padding, mod.dilation, mod.groups,
                            bias=mod.bias is not None, padding_mode=mod.padding_mode)
            if pretrained:
                with torch.no_grad():
                    new.weight.copy_(mod.weight.sum(dim=1, keepdim=True))
                    if mod.bias is not None:
                        new.bias.copy_(mod.bias)
            parent = model
            *path, last = name.split(".")
            for p in path:
                parent = getattr(parent, p)
            setattr(parent, last, new)
            return
    raise ValueError("no 3-channel input convolution found to make grayscale")


def _replace_head(model: nn.Module, n: int) -> None:
    """Swap the last Linear layer for an ``n``-way one (after loading pretrained weights)."""
    last_name, last = None, None
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Linear):
            last_name, last = name, mod
    if last is None:
        raise ValueError("no Linear classifier layer found")
    parent = model
    *path, leaf = last_name.split(".")
    for p in path:
        parent = getattr(parent, p)
    setattr(parent, leaf, nn.Linear(last.in_features, n))


def build_model(arch: str = "resnet18", weights: str | None = None, num_classes: int = len(CLASSES)) -> OrientationNet:
    """A 1-channel, ``num_classes``-way torchvision classifier.

    ``weights`` (e.g. ``DEFAULT`` or ``IMAGENET1K_V1``) downloads ImageNet weights through
    torchvision and therefore needs the network; ``None`` (default) trains from scratch.
    """
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; choose one of: {', '.join(ARCHS)}")
    ctor = getattr(torchvision.models, arch)
    if weights:
        try:
            net = ctor(weights=weights)
        except Exception as e:  # network or name problems: say so, never fall back silently
            raise RuntimeError(f"could not load {arch} weights {weights!r} (needs the network and a valid name): "
                               f"{type(e).__name__}: {e}") from None
        _replace_head(net, num_classes)
    else:
        net = ctor(weights=None, num_classes=num_classes)
    _replace_first_conv(net, pretrained=bool(weights))
    return OrientationNet(net)


def last_conv_layer(model: nn.Module) -> nn.Module:
    """The last ``Conv2d`` in forward-definition order (Grad-CAM's layer), for any arch."""
    last = None
    for mod in model.modules():
        if isinstance(mod, nn.Conv2d):
            last = mod
    if last is None:
        raise ValueError("model has no Conv2d layer")
    return last


def last_conv_block(model: nn.Module) -> nn.Module:
    """The last convolutional block (whose output is the final feature map): ResNet ``layer4``,
    MobileNet/EfficientNet/ConvNeXt ``features[-1]``, RegNet ``trunk_output``; else the last conv."""
    bb = getattr(model, "backbone", model)
    for attr in ("layer4", "trunk_output"):
        if hasattr(bb, attr):
            return getattr(bb, attr)
    feats = getattr(bb, "features", None)
    if isinstance(feats, nn.Sequential) and len(feats):
        return feats[-1]
    return last_conv_layer(model)


# --------------------------------------------------------------------------- checkpoints
def save_checkpoint(path: str | os.PathLike, ckpt: dict) -> None:
    """Write atomically: a temporary file, then rename."""
    from datagen.atomic import atomic_write

    atomic_write(path, lambda t: torch.save(ckpt, t))


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Load with ``weights_only=True``; refuse anything that would need arbitrary unpickling, and
    any checkpoint whose fields are not what docorient writes (one line saying what differs)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such checkpoint file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError, EOFError, ValueError, OSError) as e:
        first = " ".join(str(e).split()) or type(e).__name__
        if len(first) > 160:
            first = first[:157].rsplit(" ", 1)[0] + " ..."
        raise ValueError(f"{path}: refused: not a safe docorient checkpoint (loading it would need arbitrary "
                         f"unpickling, or the file is damaged): {first}") from None
    check_checkpoint(ckpt, path)
    return ckpt


def check_checkpoint(ckpt, path: str | os.PathLike = "checkpoint") -> None:
    """ValueError (one line, naming ``path``) unless ``ckpt`` has the fields docorient relies on."""
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"{path}: not a docorient checkpoint (expected a dict with format {FORMAT!r})")
    if "model" not in ckpt or not isinstance(ckpt["model"], dict) or not ckpt["model"]:
        raise ValueError(f"{path}: the checkpoint has no 'model' state dict")
    if ckpt.get("arch") not in ARCHS:
        raise ValueError(f"{path}: unknown arch {ckpt.get('arch')!r}; this docorient knows {', '.join(ARCHS)}")
    classes = ckpt.get("classes")
    if list(classes or []) != list(CLASSES):
        raise ValueError(f"{path}: classes {classes!r} differ from docorient's {list(CLASSES)} (class i = the "
                         "clockwise angle 90 i); the checkpoint cannot be used as it is")
    size = ckpt.get("input_size")
    if isinstance(size, bool) or not isinstance(size, int) or not 16 <= size <= 4096:
        raise ValueError(f"{path}: input_size must be an integer between 16 and 4096, got {size!r}")
    if ckpt.get("in_channels", 1) != 1:
        raise ValueError(f"{path}: in_channels must be 1 (gray), got {ckpt.get('in_channels')!r}")
    t = ckpt.get("temperature", 1.0)
    if not isinstance(t, (int, float)) or not (0 < float(t) < 100):
        raise ValueError(f"{path}: temperature must be a number in (0, 100), got {t!r}")
    bad = [k for k, v in ckpt["model"].items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(f"{path}: model entry {bad[0]!r} is not a tensor")


def model_from_checkpoint(ckpt: dict, device: torch.device | str = "cpu", path: str | os.PathLike = "checkpoint"
                          ) -> OrientationNet:
    model = build_model(ckpt["arch"], None, len(ckpt["classes"]))
    state = {k: v.float() if v.is_floating_point() else v for k, v in ckpt["model"].items()}  # fp16 files load too
    want = model.state_dict()
    missing = [k for k in want if k not in state]
    extra = [k for k in state if k not in want]
    shape = [k for k in want if k in state and tuple(state[k].shape) != tuple(want[k].shape)]
    if missing or extra or shape:
        parts = [f"{len(missing)} missing" if missing else "", f"{len(extra)} unexpected" if extra else "",
                 f"{len(shape)} of another shape" if shape else ""]
        first = (shape or missing or extra)[0]
        detail = (f"{first}: {tuple(state[first].shape)} vs {tuple(want[first].shape)}" if shape else first)
        raise ValueError(f"{path}: its weights do not fit a {ckpt['arch']} ({', '.join(p for p in parts if p)} "
                         f"entries, e.g. {detail})")
    if any(not torch.isfinite(v).all() for v in state.values() if v.is_floating_point()):
        raise ValueError(f"{path}: the checkpoint holds non-finite weights (a diverged run); retrain it")
    model.load_state_dict(state)
    return model.to(device).eval()


def load_model(path: str | os.PathLike, device: torch.device | str = "cpu") -> tuple[OrientationNet, dict]:
    ckpt = load_checkpoint(path)
    return model_from_checkpoint(ckpt, device, path), ckpt
