"""The window engine: a page's answer from K glyph-scale windows, voted.

:class:`WindowPrep` runs where the page is read (in the render workers of ``trainer predict``):
it measures the text scale and cuts the windows (:func:`datagen.glyphs.page_windows`) from the
page at its own resolution.  :class:`WindowEngine` then runs the window network on the first K
windows of every page of a batch at once, sums each page's window log-probabilities and applies
the page temperature.  A page whose answer is still uncertain (top probability below the model's
``escalate``) is read again with all its windows, up to ``k_max``, under the temperature fitted
for that many (``temperature_max``): the hard pages get ``k_max / K`` times the evidence, the
easy ones no more network work.  A page with no text scale (blank, a photo without text, a drawing) is answered by
the whole-page model when the engine has one (``basis = "whole"``), else it gets a uniform answer
flagged for review (``basis = "none"``).

Both window networks, :class:`OnnxWindows` (onnxruntime, never imports torch) and
:class:`TorchWindows`, take ``(n, W, W)`` uint8 windows and return ``(n, 4)`` logits.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

PDF_DPI = 150.0  # PDF pages are rendered at this resolution for the windows
CHUNK = 32  # windows per network run
WHOLE_CHUNK = 2  # pages per run of the whole-page model (12 pages at once took ~70 MiB more)
DRAFT_SIDE = 800  # a JPEG decodes at the smallest DCT scale keeping at least twice this side


@dataclass(frozen=True)
class WindowPrep:
    """The per-page work of a render worker: ``{"windows", "text_scale", "components"}`` of an
    (h, w) uint8 page.  ``needs_fit``: whether the whole-page view is still wanted when the
    page gives windows (only to answer pages without any).  ``level``: a page tilted by a few
    degrees or more (its coarse tilt, :func:`trainer.skew.coarse_tilt`) is levelled before its
    windows are cut (:func:`datagen.glyphs.page_windows`)."""

    k: int
    target: float
    win: int
    draft_side: int = DRAFT_SIDE
    needs_fit: bool = False
    level: bool = True

    def __call__(self, gray: np.ndarray) -> dict:
        from datagen.glyphs import page_windows
        from trainer.skew import coarse_tilt

        w = page_windows(gray, self.k, self.target, self.win, tilt_of=coarse_tilt if self.level else None)
        return {"windows": w.windows, "text_scale": w.scale.size, "components": w.scale.components}


class OnnxWindows:
    """A window model exported to ONNX, on onnxruntime's CPU provider."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None, session=None):
        from .infer import onnx_session, read_onnx_meta

        self.session = session if session is not None else onnx_session(path, threads)
        self.meta = read_onnx_meta(self.session, path)
        self.input = self.session.get_inputs()[0].name

    def logits(self, windows: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input: np.ascontiguousarray(windows, np.uint8)})[0].astype(np.float64)


class TorchWindows:
    """A window checkpoint (``trainer fit-windows``) in torch."""

    def __init__(self, path: str | os.PathLike, device=None):
        from .windowfit import load_window_model

        self.net, ck = load_window_model(path)
        self.meta = {k: v for k, v in ck.items() if k not in ("model", "history")}
        self.device = device

    def logits(self, windows: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(windows)).unsqueeze(1).float().div_(255.0)
            return self.net(x).double().numpy()


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class WindowEngine:
    """Pages -> calibrated probabilities from their windows (``answers``), with the whole-page
    model ``whole`` (an engine of :mod:`trainer.infer`, or None) for pages without text."""

    name = "windows"

    def __init__(self, net, meta: dict, whole=None, whole_spec=None, tta: bool = False):
        self.net, self.meta, self.whole, self.tta = net, meta, whole, tta
        self.temperature = float(meta.get("temperature", 1.0))
        self.k = int(meta.get("k", 16))
        # escalation: pages below `escalate` after K windows are read with up to k_max
        self.k_max = max(self.k, int(meta.get("k_max", self.k)))
        self.temperature_max = float(meta.get("temperature_max", self.temperature))
        self.escalate = float(meta.get("escalate", 0.0)) if self.k_max > self.k else 0.0
        self.whole_spec = whole_spec
        self.prep = WindowPrep(self.k_max, float(meta.get("target", 7.0)), int(meta.get("win", 64)),
                               needs_fit=False)
        self.spec = whole_spec or (128, 128, 0)  # the whole view a page is also read at

    def page_input(self, page) -> tuple[str, object, dict]:
        """``(basis, model input, info)`` of a read page (:class:`datagen.pages.Page` whose
        ``extra`` is this engine's :class:`WindowPrep` output)."""
        from .infer import model_inputs

        ex = page.extra or {}
        info = {"text_scale": None if ex.get("text_scale") is None else round(float(ex["text_scale"]), 2)}
        wins = ex.get("windows")
        if wins is not None and len(wins):
            return "windows", wins, {**info, "windows": int(len(wins))}
        if self.whole is not None and page.fitted is not None:
            return "whole", model_inputs(page.fitted, page.paper, self.whole_spec), {**info, "windows": 0}
        return "none", None, {**info, "windows": 0}

    def _window_scores(self, groups: list[np.ndarray]) -> list[np.ndarray]:
        allw = np.concatenate(groups)
        views = range(4) if self.tta else range(1)
        total = 0
        for q in views:  # a window turned counter-clockwise by 90q shows class c - q
            lp = _log_softmax(self._logits(np.rot90(allw, q, axes=(1, 2)) if q else allw))
            total = total + np.roll(lp, q, axis=1)
        total = total / len(views)
        bounds = np.cumsum([0] + [len(g) for g in groups])
        return [total[a:b].sum(0) for a, b in zip(bounds[:-1], bounds[1:])]

    def _logits(self, windows: np.ndarray) -> np.ndarray:
        """The network on at most :data:`CHUNK` windows at a time: its activations, not the
        batch of pages, bound the memory (32 pages x 16 windows at once take ~0.6 GB)."""
        return np.concatenate([self.net.logits(windows[i:i + CHUNK]) for i in range(0, len(windows), CHUNK)])

    def answers(self, inputs: list[tuple[str, object, dict]]) -> tuple[np.ndarray, list[dict]]:
        """Probabilities ``(B, 4)`` and per-page info (``basis``, ``windows``, ``text_scale``)."""
        probs = np.full((len(inputs), 4), 0.25)
        infos = [{**info, "basis": basis} for basis, _, info in inputs]
        win_idx = [i for i, (b, _, _) in enumerate(inputs) if b == "windows"]
        if win_idx:
            first = [inputs[i][1][:self.k] for i in win_idx]
            scores = self._window_scores(first)
            for i, s in zip(win_idx, scores):
                probs[i] = _softmax(s / self.temperature)
                infos[i]["windows"] = int(min(self.k, len(inputs[i][1])))
            more = [(i, s) for i, s in zip(win_idx, scores)
                    if probs[i].max() < self.escalate and len(inputs[i][1]) > self.k]
            if more:
                rest = self._window_scores([inputs[i][1][self.k:] for i, _ in more])
                for (i, s), r in zip(more, rest):
                    probs[i] = _softmax((s + r) / self.temperature_max)
                    infos[i]["windows"] = int(len(inputs[i][1]))
        whole_idx = [i for i, (b, _, _) in enumerate(inputs) if b == "whole"]
        if whole_idx:
            for a in range(0, len(whole_idx), WHOLE_CHUNK):
                idx = whole_idx[a:a + WHOLE_CHUNK]
                probs[idx] = self.whole.predict(np.stack([inputs[i][1] for i in idx]))[0]
        return probs, infos
