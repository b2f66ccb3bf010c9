"""Prediction and evaluation shared by ``trainer eval/predict`` and ``interpret``."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np
import torch

from datagen.contract import ANGLES

from .models import autocast


@torch.no_grad()
def predict_probs(model: torch.nn.Module, images: torch.Tensor, device: torch.device, tta: bool = False,
                  temperature: float = 1.0) -> torch.Tensor:
    """Class probabilities ``(B, 4)`` for model inputs ``(B, 1, S, S)`` (logits / ``temperature``).

    ``tta``: rotation-consistent test-time augmentation.  The input is also turned by 90, 180
    and 270 degrees (counter-clockwise, losslessly); a page labelled ``L`` turned CCW by ``90k``
    is labelled ``L - 90k``, so the four predictions are aligned and their log-probabilities
    averaged (as :func:`trainer.infer.tta_combine`).  4x the compute, fewer 180-degree confusions.
    """
    x = images.to(device, non_blocking=True)
    if device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    with autocast(device):
        if not tta:
            return (model(x).float() / temperature).softmax(1).cpu()
        total = 0
        for k in range(4):
            logp = (model(torch.rot90(x, k=k, dims=(-2, -1))).float() / temperature).log_softmax(1)  # turned frame
            total = total + torch.roll(logp, shifts=k, dims=1)  # original class c is class c - k once turned
        return (total / 4).softmax(1).cpu()


@dataclass
class EvalResult:
    n: int = 0
    confusion: np.ndarray = field(default_factory=lambda: np.zeros((4, 4), dtype=np.int64))  # [true, pred]
    errors: list[dict] = field(default_factory=list)
    groups: dict = field(default_factory=dict)  # field -> value -> [correct, total]
    predictions: list[dict] = field(default_factory=list)
    loss_sum: float = 0.0
    probs: list = field(default_factory=list)  # (4,) per sample, as the model answered (calibrated)
    labels: list = field(default_factory=list)
    review_threshold: float | None = None
    skews: list[dict] = field(default_factory=list)  # pages with a ``skew`` label: its estimate and error
    skew_group_by: tuple[str, ...] = ()

    def skew_report(self) -> dict:
        """Fine-skew error statistics over the pages whose labels carry a ``skew`` (absolute
        error, degrees, modulo 90): n, median, 95th percentile, share over 1 degree, pages the
        estimate flagged for review; overall and per value of each ``group_by`` field."""
        if not self.skews:
            return {}
        out = _skew_stats(self.skews)
        for f in self.skew_group_by:
            vals = sorted({str(r.get(f, "")) for r in self.skews})
            out.setdefault("groups", {})[f] = {v: _skew_stats([r for r in self.skews if str(r.get(f, "")) == v])
                                               for v in vals}
        return out

    def confidence_report(self) -> dict:
        """Calibration (ECE), accuracy at 100/99/95/90 % coverage, and the errors left unflagged at
        the model's review threshold: what a pipeline owner sets a threshold by."""
        from .calibrate import calibration, flagged_errors, risk_coverage

        if not self.probs:
            return {}
        p = np.stack(self.probs)
        y = np.asarray(self.labels)
        conf, correct = p.max(1), p.argmax(1) == y
        out = {"calibration": calibration(p, y), "risk_coverage": risk_coverage(conf, correct)}
        if self.review_threshold is not None:
            out["review"] = flagged_errors(conf, correct, self.review_threshold)
        return out

    @property
    def accuracy(self) -> float | None:
        return float(np.trace(self.confusion) / self.n) if self.n else None

    def per_class(self) -> dict[str, float | None]:
        out = {}
        for c, a in enumerate(ANGLES):
            tot = self.confusion[c].sum()
            out[str(a)] = float(self.confusion[c, c] / tot) if tot else None
        return out

    def to_json(self) -> dict:
        d = {"n": self.n, "accuracy": self.accuracy, "per_class_accuracy": self.per_class(),
             "confusion": {"labels": list(ANGLES), "rows_true_cols_pred": self.confusion.tolist()},
             "errors": len(self.errors), "error_items": self.errors[:50]}
        conf = self.confidence_report()
        if conf:
            d["ece"] = conf["calibration"]["ece"]
            d["accuracy_at_coverage"] = {k: v["accuracy"] for k, v in conf["risk_coverage"]["at"].items()}
            if "review" in conf:
                d["review"] = conf["review"]
        if self.skews:
            d["skew"] = self.skew_report()
        if self.groups:
            d["groups"] = {f: {k: {"accuracy": c / t if t else None, "n": t} for k, (c, t) in sorted(g.items())}
                           for f, g in self.groups.items()}
        return d


def evaluate(model: torch.nn.Module | None, data, device: torch.device | None = None, batch_size: int = 64,
             tta: bool = False, keep_predictions: bool = False, progress=None, temperature: float = 1.0,
             engine=None, spec: tuple[int, int, int] | None = None) -> EvalResult:
    """Run ``model`` (or an inference ``engine`` of :mod:`trainer.infer`, which then owns the
    temperature and TTA) over a :class:`trainer.data.EvalSource`; confusion, per-group accuracy,
    errors.  ``spec`` ``(size, side, crops)``: the data's squares are at ``side``, and a
    multi-view model sees their views (:func:`datagen.preprocess.views_of_square`)."""
    from .infer import TorchEngine

    skew = has_skew_labels(data)
    if engine is not None and hasattr(engine, "answers"):
        return evaluate_pages(engine, data, batch_size, keep_predictions, progress, skew=skew)
    res = EvalResult()
    if model is not None:
        model.eval()
        if spec is not None and (spec[2] or spec[1] != spec[0]):
            engine = TorchEngine(model, device, tta=tta, temperature=temperature)
    multi = spec is not None and (spec[2] or spec[1] != spec[0])
    for b in data.batches(batch_size):
        if engine is not None:
            x8 = b.images[:, 0].mul(255).add_(0.5).floor_().clamp_(0, 255).to(torch.uint8).numpy()  # (B, S, S)
            if multi:
                from datagen.preprocess import views_of_square

                x8 = np.stack([views_of_square(sq, spec[0], spec[2]) for sq in x8])  # (B, V, s, s)
            probs = torch.from_numpy(engine.predict(x8)[0])
        else:
            probs = predict_probs(model, b.images, device, tta, temperature)
        pred = probs.argmax(1)
        res.probs.extend(probs.double().numpy())
        res.labels.extend(b.labels.tolist())
        for i, (t, p) in enumerate(zip(b.labels.tolist(), pred.tolist())):
            res.confusion[t, p] += 1
            for field_ in data.group_by:
                g = str(b.metas[i].get(field_, ""))
                c = res.groups.setdefault(field_, {}).setdefault(g, [0, 0])
                c[0] += int(t == p)
                c[1] += 1
            if keep_predictions:
                res.predictions.append({"key": b.keys[i], "true": ANGLES[t], "pred": ANGLES[p],
                                        "prob": round(float(probs[i, p]), 4)})
        res.n += len(b.keys)
        if progress is not None:
            progress.update(len(b.keys))
    res.errors = list(data.errors)
    if skew:  # these squares carry no page: the labelled pages are read once more for their skew
        _skew_pass(data, res)
    return res


def _tally(res: EvalResult, data, probs: np.ndarray, labels: list[int], keys: list[str], metas: list[dict],
           keep_predictions: bool) -> None:
    pred = probs.argmax(1)
    res.probs.extend(probs)
    res.labels.extend(labels)
    for i, (t, p) in enumerate(zip(labels, pred.tolist())):
        res.confusion[t, p] += 1
        for field_ in data.group_by:
            c = res.groups.setdefault(field_, {}).setdefault(str(metas[i].get(field_, "")), [0, 0])
            c[0] += int(t == p)
            c[1] += 1
        if keep_predictions:
            res.predictions.append({"key": keys[i], "true": ANGLES[t], "pred": ANGLES[p],
                                    "prob": round(float(probs[i, p]), 4)})
    res.n += len(keys)


def evaluate_pages(engine, data, batch_size: int = 64, keep_predictions: bool = False, progress=None,
                   skew: bool = False) -> EvalResult:
    """:func:`evaluate` for an engine that reads pages (the window engine): the data's
    :meth:`~trainer.data.EvalSource.page_items`, answered ``batch_size`` pages at a time.
    ``skew``: each page's fine skew is also estimated where it is read, and scored against its
    ``skew`` label."""
    from .infer import engine_answers, engine_input

    from .skew import SkewPrep

    res = EvalResult(skew_group_by=tuple(data.group_by))
    buf: list[tuple] = []

    def flush():
        if not buf:
            return
        probs, _, _ = engine_answers(engine, [engine_input(engine, pg, engine.spec) for pg, *_ in buf])
        _tally(res, data, np.asarray(probs, np.float64), [c for _, c, _, _ in buf], [k for *_, k, _ in buf],
               [m for *_, m in buf], keep_predictions)
        if progress is not None:
            progress.update(len(buf))
        buf.clear()

    with _prep_as(data, SkewPrep(data.prep) if skew else data.prep):
        for item in data.page_items():
            buf.append(item)
            if skew:
                pg, _, key, meta = item
                _add_skew(res, key, meta, (pg.extra or {}).get("skew"))
            if len(buf) >= batch_size:
                flush()
        flush()
    res.errors = list(data.errors)
    return res


# --------------------------------------------------------------------------- fine skew
def has_skew_labels(data) -> bool:
    """Whether ``data`` is a labelled CSV with a ``skew`` column (the clockwise fine tilt each
    image shows as stored, degrees; an empty cell: not labelled).  A cell that is not a finite
    number is a ``ValueError`` naming the CSV, its line and the file, raised before anything
    is run."""
    rows = getattr(data, "rows", None)
    if not rows or not any("skew" in r for r in rows):
        return False
    for i, r in enumerate(rows, start=2):
        v = (r.get("skew") or "").strip()
        if not v:
            continue
        try:
            ok = np.isfinite(float(v))
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"{getattr(data, 'path', 'labels')}: line {i} ({r.get('file')}): skew {v!r} is not a "
                             "finite number of degrees")
    return any((r.get("skew") or "").strip() for r in rows)


def _add_skew(res: EvalResult, key: str, meta: dict, sk) -> None:
    true = str(meta.get("skew", "")).strip()
    if not true or sk is None:
        return
    err = (sk.angle - float(true) + 45.0) % 90.0 - 45.0  # the estimate is the tilt modulo 90
    res.skews.append({"key": key, "true": float(true), "estimate": sk.angle, "error": round(err, 3),
                      "needs_review": bool(sk.needs_review), **{f: str(meta.get(f, "")) for f in res.skew_group_by}})


def _skew_pass(data, res: EvalResult) -> None:
    """The labelled pages read again, each estimated by :func:`trainer.skew.estimate_skew` where
    it is read (for engines whose inputs are squares, not pages); read errors are not counted twice."""
    from .skew import SkewPrep

    res.skew_group_by = tuple(data.group_by)
    n_err = len(data.errors)
    try:
        with _prep_as(data, SkewPrep(None)):
            for pg, _, key, meta in data.page_items():
                _add_skew(res, key, meta, (pg.extra or {}).get("skew"))
    finally:
        del data.errors[n_err:]


@contextlib.contextmanager
def _prep_as(data, prep):
    """``data`` read with the render workers' ``prep`` for the time of the block."""
    inner, data.prep = data.prep, prep
    try:
        yield data
    finally:
        data.prep = inner


def _skew_stats(rows: list[dict]) -> dict:
    e = np.abs([r["error"] for r in rows])
    return {"n": len(rows), "median_abs_error": round(float(np.median(e)), 3),
            "p95_abs_error": round(float(np.percentile(e, 95)), 3), "over_1deg": round(float((e > 1.0).mean()), 4),
            "needs_review": sum(r["needs_review"] for r in rows)}


def format_result(res: EvalResult, title: str) -> str:
    lines = [title]
    if res.n == 0:
        lines.append("no samples could be evaluated")
    else:
        lines.append(f"accuracy {100 * res.accuracy:.2f} %  ({int(np.trace(res.confusion))}/{res.n})")
        pc = res.per_class()
        lines.append("per class: " + "  ".join(f"{a}°: {100 * v:.1f} %" if v is not None else f"{a}°: -"
                                            for a, v in pc.items()))
        conf = res.confidence_report()
        if conf:
            at = conf["risk_coverage"]["at"]
            lines.append(f"calibration error (ECE, 15 bins) {100 * conf['calibration']['ece']:.2f} %; accuracy at "
                         "coverage " + "  ".join(f"{k} %: {100 * v['accuracy']:.2f} %" for k, v in at.items()))
            if "review" in conf:
                r = conf["review"]
                lines.append(f"at the review threshold {r['threshold']:.3f}: {100 * r['flagged']:.1f} % of pages "
                             f"flagged, {100 * r['wrong_not_flagged']:.2f} % wrong and not flagged")
        lines.append("confusion (rows = true, columns = predicted):")
        lines.append("        " + "".join(f"{str(a) + '°':>7}" for a in ANGLES))
        for c, a in enumerate(ANGLES):
            lines.append(f"{str(a) + '°':>7} " + "".join(f"{v:>7}" for v in res.confusion[c]))
    sk = res.skew_report()
    if sk:
        lines.append(f"fine skew on {sk['n']} labelled page(s): absolute error median {sk['median_abs_error']:.3f}°, "
                     f"p95 {sk['p95_abs_error']:.3f}°, {100 * sk['over_1deg']:.1f} % over 1°, "
                     f"{sk['needs_review']} flagged for review")
        for f, groups in sk.get("groups", {}).items():
            for g, st in groups.items():
                lines.append(f"  skew, {f} {g or '(none)'}: median {st['median_abs_error']:.3f}°, "
                             f"p95 {st['p95_abs_error']:.3f}° of {st['n']}")
    for f, groups in res.groups.items():
        lines.append(f"by {f}:")
        for g, (c, t) in sorted(groups.items()):
            lines.append(f"  {g or '(none)'}: {100 * c / t:.1f} % of {t}")
    if res.errors:
        lines.append(f"errors: {len(res.errors)} item(s) could not be read:")
        lines.extend(f"  {e['item']}: {e['reason']}" for e in res.errors[:20])
    return "\n".join(lines)
