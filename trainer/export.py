"""``trainer export``: a checkpoint as an ONNX model that carries its preprocessing contract.

The graph takes ``image``: ``(B, 1, S, S)`` float32 in [0, 1] (paper = 1), the output of the one
model-input function divided by 255, and returns ``logits`` ``(B, 4)`` for the clockwise angles
0, 90, 180, 270; the normalisation ``(x - 0.5) / 0.5`` is inside the graph.  The metadata entry
``docorient`` (JSON) holds the input size, normalisation, classes, temperature, review
threshold, render dpi and the training record, so :class:`trainer.infer.OnnxEngine` needs
nothing else.

``half_weights`` stores the weights as float16 followed by a Cast to float32: half the file,
the same float32 arithmetic at run time (onnxruntime folds the casts when it loads the model),
and logits within about 1e-3 of the float32 export.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

META_FORMAT = "docorient-onnx/1"


def _half_initializers(model) -> None:
    """Store every float32 initializer as float16 + a Cast node restoring float32 (in place)."""
    import onnx
    from onnx import helper, numpy_helper

    graph = model.graph
    casts, keep = [], []
    for init in graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT:
            keep.append(init)
            continue
        arr = numpy_helper.to_array(init)
        if arr.size < 16:  # scalars and tiny vectors: not worth a cast
            keep.append(init)
            continue
        half = numpy_helper.from_array(arr.astype(np.float16), name=init.name + "__fp16")
        keep.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=onnx.TensorProto.FLOAT,
                                      name=init.name + "__cast"))
    del graph.initializer[:]
    graph.initializer.extend(keep)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)


def export_half(ckpt_path: str | os.PathLike, out: str | os.PathLike) -> dict:
    """A checkpoint for shipping: float16 weights, no optimizer or scheduler state (a quarter of a
    training checkpoint's size); loads with ``trainer.models.load_model`` like any other."""
    import torch

    from datagen.atomic import atomic_write
    from .models import load_checkpoint

    ck = load_checkpoint(ckpt_path)
    slim = {k: v for k, v in ck.items() if k not in ("optimizer", "scheduler")}
    slim["model"] = {k: v.half() if v.is_floating_point() else v for k, v in ck["model"].items()}
    slim["weights"] = "float16"
    atomic_write(out, lambda t: torch.save(slim, t))
    return slim


def export_onnx(ckpt_path: str | os.PathLike, out: str | os.PathLike, half_weights: bool = True,
                opset: int = 17) -> dict:
    """Write the ONNX export of a docorient checkpoint to ``out`` (atomically); returns its metadata."""
    import onnx
    import torch

    from .models import load_model

    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise ValueError(f"{out}: an ONNX model's file name ends in .onnx")
    model, ck = load_model(ckpt_path, "cpu")
    size = int(ck["input_size"])
    meta = {"format": META_FORMAT, "arch": ck["arch"], "input_size": size, "classes": list(ck["classes"]),
            **({"page_side": int(ck["page_side"]), "crops": int(ck.get("crops", 0))} if ck.get("page_side") else {}),
            "input": "image: (B, 1, S, S) float32 in [0, 1], paper = 1; S = input_size",
            "normalize": ck.get("normalize", {"mean": 0.5, "std": 0.5}),
            "temperature": float(ck.get("temperature", 1.0)),
            "review_threshold": float(ck.get("review_threshold", 0.0)),
            "dpi": float(ck.get("dataset_config", {}).get("dpi", 100.0)),
            "variant": ck.get("variant"), "dataset_digest": ck.get("dataset_digest"),
            "trained": {k: ck.get(k) for k in ("epoch", "step", "config", "versions", "recipe", "corpus", "code_version",
                                               "calibration")
                        if ck.get(k) is not None},
            "weights": "float16 stored, float32 computed" if half_weights else "float32"}
    from datagen.atomic import atomic_write

    def write(tmp: Path) -> None:
        x = torch.rand(2, 1, size, size)
        import warnings

        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter needs no onnxscript
            torch.onnx.export(model, x, str(tmp), input_names=["image"], output_names=["logits"],
                              dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, opset_version=opset,
                              dynamo=False)
        m = onnx.load(str(tmp))
        if half_weights:
            _half_initializers(m)
        entry = m.metadata_props.add()
        entry.key, entry.value = "docorient", json.dumps(meta, sort_keys=True, default=str)
        m.producer_name = "docorient-toolkit"
        onnx.checker.check_model(m)
        onnx.save(m, str(tmp))

    atomic_write(out, write)
    return meta
