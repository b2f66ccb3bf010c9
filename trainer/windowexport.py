"""Export of the window model to ONNX (``trainer export RUN/model.pt --onnx OUT.onnx``).

The graph takes ``(B, W, W)`` uint8 windows (scaling and per-window standardisation inside it)
and returns ``(B, 4)`` logits.  The metadata (key ``docorient``) carries the contract a torch-free
prediction needs: ``kind = "windows"``, the window side, the text-scale target, K, the page
temperature and review threshold.

``int8=True`` adds onnxruntime's static quantisation (QDQ, per-channel weights), calibrated on
training windows (never on evaluation pages): about twice as fast on a CPU, 4x smaller.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from .glyphnet import Uint8Windows
from .windowfit import load_window_model

META_KEYS = ("kind", "classes", "win", "target", "k", "temperature", "k_max", "temperature_max", "escalate",
             "review_threshold", "whole", "whole_input")


def window_meta(ck: dict) -> dict:
    meta = {k: ck[k] for k in META_KEYS if k in ck}
    meta["input_size"] = int(ck.get("win", 64))  # what an ONNX reader of any docorient model checks
    return meta


def _set_meta(path: Path, meta: dict) -> None:
    import onnx

    m = onnx.load(str(path))
    del m.metadata_props[:]
    p = m.metadata_props.add()
    p.key, p.value = "docorient", json.dumps(meta)
    onnx.save(m, str(path))


def _calibration_windows(ck: dict, windows: str | os.PathLike | None, n: int = 2048) -> np.ndarray:
    rng = np.random.default_rng(0)
    if windows:
        from datagen.windows import load_windows

        tr = load_windows(windows).train
        idx = np.sort(rng.choice(len(tr), min(n, len(tr)), replace=False))
        w = np.asarray(tr[idx])
        return np.stack([np.rot90(x, int(rng.integers(4))) for x in w])
    raise ValueError("int8 quantisation needs calibration windows: give --calibrate WINDOWS/ (a datagen windows folder)")


def escalation(pt: str | os.PathLike, windows: str | os.PathLike, k_max: int = 64, escalate: float = 0.8,
               k: int | None = None) -> dict:
    """The vote of window checkpoint ``pt`` (:class:`trainer.windowinfer.WindowEngine`): a page
    is first read with ``k`` windows (default: the checkpoint's K); one whose top probability is
    then below ``escalate`` is read with up to ``k_max``.  Each of the two votes gets its page
    temperature (``temperature``, ``temperature_max``) fitted here on the validation pages of the
    ``datagen windows`` folder ``windows``, as :func:`trainer.windowfit.fit_windows` fits its own."""
    from datagen.windows import load_windows

    from .windowfit import fit_temperature, val_pages

    net, ck = load_window_model(pt)
    own = int(ck.get("k", 16))
    k = int(k or own)
    ws = load_windows(windows)

    def temperature(n: int) -> float:
        scores, labels = val_pages(net, ws, n, seed=2, limit=2000)
        if not len(labels):
            raise ValueError(f"{windows}: no validation pages to fit the page temperature on")
        return fit_temperature(scores, labels)

    out: dict = {"k": k, "temperature": temperature(k)} if k != own else {}
    if k_max <= k:
        return {**out, "k_max": k}
    return {**out, "k_max": int(k_max), "temperature_max": temperature(k_max), "escalate": float(escalate)}


def export_windows(pt: str | os.PathLike, out: str | os.PathLike, int8: bool = False,
                   calibrate: str | os.PathLike | None = None, extra_meta: dict | None = None) -> Path:
    """Write the ONNX export of window checkpoint ``pt`` to ``out`` (atomically)."""
    from datagen.atomic import atomic_write

    net, ck = load_window_model(pt)
    wrapped = Uint8Windows(net).eval()
    win = int(ck.get("win", 64))
    meta = {**window_meta(ck), **(extra_meta or {})}
    with tempfile.TemporaryDirectory(prefix="docorient-export-") as d:
        fp32 = Path(d) / "fp32.onnx"
        x = torch.zeros(2, win, win, dtype=torch.uint8)
        torch.onnx.export(wrapped, (x,), str(fp32), input_names=["windows"], output_names=["logits"],
                          dynamic_axes={"windows": {0: "n", 1: "h", 2: "w"}, "logits": {0: "n"}}, opset_version=17, dynamo=False)
        src = fp32
        if int8:
            src = Path(d) / "int8.onnx"
            _quantise(fp32, src, _calibration_windows(ck, calibrate))
            meta["int8"] = True
        _set_meta(src, meta)
        data = src.read_bytes()
    return atomic_write(out, lambda t: t.write_bytes(data))


def _quantise(fp32: Path, out: Path, windows: np.ndarray) -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"windows": windows[i:i + 64]} for i in range(0, len(windows), 64)])

        def get_next(self):
            return next(self.batches, None)

    pre = out.with_name("pre.onnx")
    quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
    quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    op_types_to_quantize=["Conv", "MatMul", "Gemm"])
