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

        from .evaluate import autocast

        t = torch.from_numpy(np.ascontiguousarray(x))[:, None].to(self.device).float().div_(255.0)  # (B, 1, S, S)
        if self.device.type == "cuda":
            t = t.contiguous(memory_format=torch.channels_last)
        with torch.no_grad(), autocast(self.device):
            return self.model(t).float().cpu().numpy()


class OnnxEngine(_Engine):
    """An exported model (``trainer export --onnx``) on onnxruntime's CPU provider."""

    name = "onnx"

    def __init__(self, path: str | os.PathLike, tta: bool = False, threads: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise ValueError("the onnx engine needs onnxruntime: pip install 'docorient-toolkit[onnx]'") from None
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types
            raise ValueError(f"{path}: not a loadable ONNX model ({type(e).__name__}: {str(e)[:160]})") from None
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
DEFAULT_ONNX = WEIGHTS / "default.onnx"
DEFAULT_PT = WEIGHTS / "default.pt"


def default_model(engine: str = "auto") -> Path:
    """The model shipped inside the package (``trainer/weights/default.pt``, float16).

    For the onnx engine (and ``auto`` when onnxruntime and onnx are installed) its ONNX export is
    used: shipped as ``default.onnx`` when the package has one, else made once from the
    checkpoint into the cache (``$DOCORIENT_CACHE/models``; that first run imports torch, the
    later ones never do).  ValueError when this installation has no default model.
    """
    if engine in ("auto", "onnx") and (engine == "onnx" or onnx_available()):
        if DEFAULT_ONNX.is_file():
            return DEFAULT_ONNX
        if DEFAULT_PT.is_file():
            try:
                import onnx  # noqa: F401
            except ImportError:
                if engine == "onnx":
                    raise ValueError("the onnx engine needs onnx to export the default model once: "
                                     "pip install 'docorient-toolkit[onnx]'") from None
            else:
                return cached_onnx(DEFAULT_PT)
    if DEFAULT_PT.is_file():
        return DEFAULT_PT
    raise ValueError(f"no model given and this installation has no default model in {WEIGHTS}; "
                     "give a checkpoint (trainer fit writes runs/<variant>/model.pt)")


def cached_onnx(pt: Path) -> Path:
    """The ONNX export of checkpoint ``pt`` in the cache, made (atomically) when it is missing."""
    from datagen import __version__
    from datagen.manifest import cache_root

    st = pt.stat()
    out = cache_root() / "models" / f"{pt.stem}-{__version__}-{st.st_size}-{int(st.st_mtime)}.onnx"
    if not out.is_file():
        from .export import export_onnx

        export_onnx(pt, out)
    return out


def is_model_file(arg: str | os.PathLike) -> bool:
    """Does a command-line argument name a model (a .pt checkpoint or an .onnx export)?"""
    return Path(arg).suffix.lower() in (".pt", ".onnx")
