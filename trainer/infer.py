"""Inference engines: the same model inputs through torch or onnxruntime.

An engine's ``predict(x)`` takes ``(B, S, S)`` uint8 model inputs (THE model-input function's
output) and returns ``(probs (B, 4) float, agree (B,) bool | None)``: calibrated probabilities
(logits divided by the model's temperature) and, with TTA, whether the four turned views agree.

TTA (rotation-consistent test-time augmentation): the input is also turned counter-clockwise by
90, 180 and 270 degrees, losslessly.  A page labelled ``L`` turned counter-clockwise by ``90k``
is labelled ``L - 90k``, so the four answers are aligned and their log-probabilities summed.

``OnnxEngine`` never imports torch, so ``trainer predict --engine onnx`` stays small in memory.
"""
from __future__ import annotations

import abc
import json
import os
from pathlib import Path

import numpy as np

ENGINES = ("auto", "torch", "onnx")
ONNX_META_KEY = "docorient"


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def tta_combine(logits_by_k: list[np.ndarray], temperature: float) -> tuple[np.ndarray, np.ndarray]:
    """Combine the logits of the views turned counter-clockwise by ``90 k`` (k = 0..3):
    ``(probs, agree)``.  View ``k`` sees class ``c - k``, so its log-probs roll by ``k``.
    Each entry is ``(B, 4)`` or ``(B, V, 4)`` (the views of a multi-view model)."""
    total = 0
    votes = []
    for k, z in enumerate(logits_by_k):
        lp = _log_softmax_last(z / temperature)
        if lp.ndim == 3:
            lp = lp.mean(1)  # the model's own views first
        lp = np.roll(lp, shift=k, axis=1)  # back to the original frame
        total = total + lp
        votes.append(lp.argmax(1))
    votes = np.stack(votes, 1)  # (B, 4)
    agree = (votes == votes[:, :1]).all(1)
    return _softmax(total / len(logits_by_k)), agree


def _log_softmax_last(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def combine_views(z: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities of ``(B, V, 4)`` view logits: the mean of the views' log-probabilities."""
    return _softmax(_log_softmax_last(z / temperature).mean(1))


class _Engine(abc.ABC):
    """What both engines share: ``predict`` on ``(B, S, S)`` inputs (one view per page) or
    ``(B, V, S, S)`` (the views of a multi-view model), with or without TTA."""

    tta = False
    temperature = 1.0

    @abc.abstractmethod
    def logits(self, x: np.ndarray) -> np.ndarray:
        """Raw logits ``(N, 4)`` of ``(N, S, S)`` uint8 model inputs."""

    def _views_logits(self, x: np.ndarray) -> np.ndarray:
        if x.ndim == 3:
            return self.logits(x)
        b, v = x.shape[:2]
        return self.logits(x.reshape(b * v, *x.shape[2:])).reshape(b, v, -1)

    def predict(self, x: np.ndarray):
        if not self.tta:
            z = self._views_logits(x)
            return (combine_views(z, self.temperature) if z.ndim == 3 else _softmax(z / self.temperature)), None
        views = [self._views_logits(np.rot90(x, k=k, axes=(-2, -1))) for k in range(4)]
        return tta_combine(views, self.temperature)


class TorchEngine(_Engine):
    """A torch model on a device (bf16 autocast on CUDA)."""

    name = "torch"

    def __init__(self, model, device, tta: bool = False, temperature: float = 1.0):
        self.model, self.device, self.tta, self.temperature = model, device, tta, float(temperature)

    def logits(self, x: np.ndarray) -> np.ndarray:
        import torch

        from .models import autocast

        t = torch.from_numpy(np.ascontiguousarray(x))[:, None].to(self.device).float().div_(255.0)  # (B, 1, S, S)
        if self.device.type == "cuda":
            t = t.contiguous(memory_format=torch.channels_last)
        with torch.no_grad(), autocast(self.device):
            return self.model(t).float().cpu().numpy()


def onnx_session(path: str | os.PathLike, threads: int | None = None):
    """An onnxruntime CPU session of ``path`` (ValueError in one line when onnxruntime is missing
    or the file is not a loadable model)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ValueError("the onnx engine needs onnxruntime: pip install onnxruntime") from None
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types
        raise ValueError(f"{path}: not a loadable ONNX model ({type(e).__name__}: {str(e)[:160]})") from None


class OnnxEngine(_Engine):
    """An exported model (``trainer export --onnx``) on onnxruntime's CPU provider."""

    name = "onnx"

    def __init__(self, path: str | os.PathLike, tta: bool = False, threads: int | None = None):
        self.session = onnx_session(path, threads)
        self.meta = read_onnx_meta(self.session, path)
        self.input = self.session.get_inputs()[0].name
        self.tta = tta
        self.temperature = float(self.meta.get("temperature", 1.0))

    def logits(self, x: np.ndarray) -> np.ndarray:
        t = np.ascontiguousarray(x, dtype=np.float32)[:, None] / np.float32(255.0)  # (B, 1, S, S)
        return self.session.run(None, {self.input: t})[0].astype(np.float64)


def input_spec(meta: dict) -> tuple[int, int, int]:
    """``(view size, page side, crops)`` of a checkpoint or ONNX metadata: a one-view model has
    ``side == size`` and no crops."""
    size = int(meta["input_size"])
    side = int(meta.get("page_side") or size)
    crops = int(meta.get("crops") or 0)
    if side % size or crops < 0:
        raise ValueError(f"a model's page side {side} must be a multiple of its input size {size}, crops >= 0")
    return size, side, crops


def model_inputs(fitted: np.ndarray, paper: int, spec: tuple[int, int, int], angle: int = 0) -> np.ndarray:
    """The model input of a prepared page under ``spec``: ``(S, S)`` for a one-view model, else
    ``(V, S, S)`` (THE model-input function, :func:`datagen.preprocess.views`)."""
    from datagen.preprocess import square, views

    size, side, crops = spec
    if side == size and not crops:
        return square(fitted, size, paper, angle)
    return views(fitted, paper, size, side, crops, angle)


def read_onnx_meta(session, path="model.onnx") -> dict:
    """The preprocessing contract an exported model carries (``trainer export``)."""
    raw = session.get_modelmeta().custom_metadata_map.get(ONNX_META_KEY)
    if not raw:
        raise ValueError(f"{path}: an ONNX model without docorient's metadata (export it with 'trainer export')")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError:
        raise ValueError(f"{path}: damaged docorient metadata in the ONNX model") from None
    if meta.get("classes") != [0, 90, 180, 270] or not isinstance(meta.get("input_size"), int):
        raise ValueError(f"{path}: the ONNX model's metadata is not docorient's contract ({raw[:120]})")
    return meta


def onnx_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


# --------------------------------------------------------------------------- the shipped model
WEIGHTS = Path(__file__).resolve().parent / "weights"
DEFAULT_ONNX = WEIGHTS / "default.onnx"  # the window model (onnxruntime, no torch)
DEFAULT_WINDOWS_PT = WEIGHTS / "default.pt"  # the same window model as a torch checkpoint
DEFAULT_WHOLE = WEIGHTS / "default-whole.onnx"  # the whole-page ResNet18, for pages without text
DEFAULT_PT = WEIGHTS / "whole.pt"  # a whole-page checkpoint for `trainer fit --init default` (not shipped)


def default_model(engine: str = "auto") -> Path:
    """The model shipped inside the package: the window model, as ONNX (``default.onnx``, for
    ``auto`` and ``onnx``) or as a torch checkpoint (``default.pt``, for ``torch``).  ValueError
    when this installation has none."""
    if engine != "torch" and DEFAULT_ONNX.is_file():
        return DEFAULT_ONNX
    if DEFAULT_WINDOWS_PT.is_file():
        return DEFAULT_WINDOWS_PT
    raise ValueError(f"no model given and this installation has no default model in {WEIGHTS}; "
                     "give a checkpoint (trainer fit writes runs/<variant>/model.pt)")


def engine_input(engine, page: Page, spec):
    """What ``engine`` answers a read page from: its own ``page_input`` (the window engine), else
    the whole-page model input (THE model-input function)."""
    if hasattr(engine, "page_input"):
        return engine.page_input(page)
    return model_inputs(page.fitted, page.paper, spec)


def engine_answers(engine, inputs: list) -> tuple[np.ndarray, np.ndarray | None, list[dict]]:
    """``(probs (B, 4), agree (B,) | None, infos)`` of a batch of :func:`engine_input` results."""
    if hasattr(engine, "answers"):
        probs, infos = engine.answers(inputs)
        return probs, None, infos
    probs, agree = engine.predict(np.stack(inputs))
    return probs, agree, [{}] * len(inputs)


def is_model_file(arg: str | os.PathLike) -> bool:
    """Does a command-line argument name a model (a .pt checkpoint or an .onnx export)?"""
    return Path(arg).suffix.lower() in (".pt", ".onnx")
