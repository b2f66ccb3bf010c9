"""Loading a model for prediction: a window model (``trainer fit-windows``, as ONNX or torch) or a
whole-page model (``trainer fit``), by what the file says it is.  It sits above both engines
(:mod:`trainer.infer`, :mod:`trainer.windowinfer`) and below the CLI and the API."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .infer import OnnxEngine, TorchEngine, default_model, input_spec, onnx_available, onnx_session, read_onnx_meta


@dataclass
class Loaded:
    """A loaded model: the engine, its metadata (checkpoint or ONNX contract), the input spec of
    its whole-page view, the PDF dpi it reads at, and its path.  Unpacks as that 5-tuple."""

    engine: object
    meta: dict
    spec: tuple[int, int, int]
    dpi: float
    path: Path

    def __iter__(self):
        return iter((self.engine, self.meta, self.spec, self.dpi, self.path))


def _read_window_checkpoint(path: Path) -> dict | None:
    """The window checkpoint (``trainer fit-windows``) at ``path``, read once (memory-mapped), or
    None where the file is not one.  Loading passes the dict on, so the file is not read again."""
    import torch

    try:
        ck = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:
        return None
    return ck if isinstance(ck, dict) and ck.get("kind") == "windows" else None


def _is_window_checkpoint(path: Path) -> bool:
    return _read_window_checkpoint(path) is not None


class LazyWhole:
    """The whole-page engine of a window model, opened on its first page: most inputs have text,
    and its onnxruntime session (a 256 px ResNet18, ~120 MiB) is then never made."""

    def __init__(self, path: Path, tta: bool):
        self.path, self.tta, self._engine = path, tta, None

    def predict(self, x):
        if self._engine is None:
            self._engine = OnnxEngine(self.path, tta=self.tta)
        return self._engine.predict(x)


def _whole_of(meta: dict, path: Path, tta: bool):
    """The whole-page engine a window model names (``meta["whole"]``, beside it), and its input
    spec, or ``(None, None)``.  The engine is lazy when the model stores the spec
    (``whole_input``, written by ``trainer export --whole``)."""
    name = meta.get("whole")
    if not name:
        return None, None
    p = Path(path).parent / name
    if not p.is_file() or not onnx_available():
        return None, None
    spec = meta.get("whole_input")
    if spec:
        return LazyWhole(p, tta), input_spec(dict(zip(("input_size", "page_side", "crops"), spec)))
    eng = OnnxEngine(p, tta=tta)
    return eng, input_spec(eng.meta)


def load_engine(model_path=None, device: str = "auto", engine: str = "auto", tta: bool = False) -> Loaded:
    """Load a model for prediction: a window model (``.onnx`` with ``kind = "windows"``, or a
    ``trainer fit-windows`` checkpoint) or a whole-page model (``trainer fit``), as ONNX or
    torch; None = the shipped default."""
    from .windowinfer import PDF_DPI, OnnxWindows, TorchWindows, WindowEngine

    path = Path(model_path) if model_path else default_model(engine)
    onnx = path.suffix.lower() == ".onnx"
    if engine == "onnx" and not onnx:
        raise ValueError(f"{path}: --engine onnx needs an .onnx model (trainer export MODEL --onnx OUT.onnx)")
    if onnx:
        if not onnx_available():
            raise ValueError("the onnx engine needs onnxruntime: pip install onnxruntime")
        session = onnx_session(path)
        if read_onnx_meta(session, path).get("kind") == "windows":
            net = OnnxWindows(path, session=session)
            whole, wspec = _whole_of(net.meta, path, tta)
            eng = WindowEngine(net, net.meta, whole, wspec, tta)
            return Loaded(eng, net.meta, eng.spec, PDF_DPI, path)
        eng = OnnxEngine(path, tta=tta)
        return Loaded(eng, eng.meta, input_spec(eng.meta), float(eng.meta.get("dpi", 100.0)), path)
    ck = _read_window_checkpoint(path)
    if ck is not None:
        net = TorchWindows(ck)  # the checkpoint as read above: load_window_model takes it as it is
        whole, wspec = _whole_of(net.meta, path, tta)
        eng = WindowEngine(net, net.meta, whole, wspec, tta)
        return Loaded(eng, net.meta, eng.spec, PDF_DPI, path)
    from datagen.devices import resolve_device
    from .models import load_model

    dev = resolve_device(device)
    model, ckpt = load_model(path, dev)
    eng = TorchEngine(model, dev, tta=tta, temperature=float(ckpt.get("temperature", 1.0)))
    return Loaded(eng, ckpt, input_spec(ckpt), float(ckpt.get("dataset_config", {}).get("dpi", 100.0)), path)
