"""Accuracy with a document-cluster bootstrap interval, and the paired gap between two runs.

The samples of one document (its pages, each at four turns) are not independent: a model that
misreads a script misreads every page of it.  So the interval of an accuracy resamples whole
documents (:func:`interpret.stats.cluster_bootstrap`), and the gap between two runs scored on the
same documents resamples them once for both (:func:`interpret.stats.paired_cluster_bootstrap`).
A sample names its document in its meta (``doc`` for page sets and labelled CSVs, ``doc_id`` for
variant shards); when some sample names none, every image is its own cluster and the summary
says so (``unit = "images"``).
"""
from __future__ import annotations

import torch

from trainer.data import EvalSource
from trainer.evaluate import EvalResult, evaluate
from .stats import cluster_bootstrap, paired_cluster_bootstrap

DOC_FIELDS = ("doc", "doc_id")


class KeepMetas(EvalSource):
    """``data`` as :func:`trainer.evaluate.evaluate` reads it, keeping every sample's meta by key."""

    def __init__(self, data: EvalSource):
        super().__init__()
        self.data, self.size, self.group_by, self.errors = data, data.size, data.group_by, data.errors
        self.metas: dict[str, dict] = {}

    def batches(self, batch_size: int = 64):
        for b in self.data.batches(batch_size):
            self.metas.update(zip(b.keys, b.metas or [{}] * len(b.keys)))
            yield b

    def describe(self) -> str:
        return self.data.describe()


def score(model: torch.nn.Module, data: EvalSource, device: torch.device, seed: int = 0
          ) -> tuple[EvalResult, dict]:
    """Evaluate ``model`` on ``data``; the result and its :func:`summarise` d accuracy."""
    rec = KeepMetas(data)
    res = evaluate(model, rec, device, keep_predictions=True)
    return res, summarise(res.predictions, rec.metas, seed)


def _interval(per_doc: dict[str, list[int]], seed: int) -> dict:
    hits = [c for c, _ in per_doc.values()]
    totals = [t for _, t in per_doc.values()]
    if not totals:
        return {"accuracy": None, "ci95": None, "n": 0, "clusters": 0}
    acc, lo, hi = cluster_bootstrap(hits, totals, seed=seed)
    return {"accuracy": acc, "ci95": [lo, hi], "n": int(sum(totals)), "clusters": len(totals)}


def summarise(predictions: list[dict], metas: dict[str, dict], seed: int = 0, by: str = "kind") -> dict:
    """Accuracy of ``predictions`` (``{"key", "true", "pred"}``) with its 95 % interval over documents.

    Returns:
        ``{"accuracy", "ci95", "n", "clusters", "unit", "per_document": {doc: [correct, total]}}``,
        and ``"by_kind"`` (the same without ``per_document``, per value of the meta field ``by``)
        when the samples carry it.  ``accuracy`` is None when nothing was scored.

    >>> p = [{"key": k, "true": 0, "pred": q} for k, q in (("a1", 0), ("a2", 0), ("b1", 90))]
    >>> s = summarise(p, {"a1": {"doc": "a"}, "a2": {"doc": "a"}, "b1": {"doc": "b"}})
    >>> round(s["accuracy"], 3), s["clusters"], s["unit"], s["per_document"]
    (0.667, 2, 'documents', {'a': [2, 2], 'b': [0, 1]})
    """
    def doc_of(p):
        meta = metas.get(p["key"]) or {}
        return next((str(meta[f]) for f in DOC_FIELDS if meta.get(f) not in (None, "")), None)

    named = all(doc_of(p) is not None for p in predictions)
    per_doc: dict[str, list[int]] = {}
    group: dict[str, str] = {}
    for p in predictions:
        doc = doc_of(p) if named else p["key"]
        c = per_doc.setdefault(doc, [0, 0])
        c[0] += int(p["true"] == p["pred"])
        c[1] += 1
        value = (metas.get(p["key"]) or {}).get(by)
        if value not in (None, ""):
            group[doc] = str(value)
    out = {**_interval(per_doc, seed), "unit": "documents" if named else "images", "per_document": per_doc}
    if group:
        out["by_" + by] = {g: _interval({d: v for d, v in per_doc.items() if group.get(d) == g}, seed)
                           for g in sorted(set(group.values()))}
    return out


def paired_gap(a: dict, b: dict, seed: int = 0) -> dict | None:
    """Accuracy of summary ``a`` minus that of ``b`` (:func:`summarise`), on the documents both
    scored with as many samples, with a paired 95 % document-cluster interval; None when they
    share no document.

    >>> a = {"per_document": {"x": [4, 4], "y": [3, 4]}}
    >>> b = {"per_document": {"x": [2, 4], "y": [3, 4]}}
    >>> g = paired_gap(a, b); g["difference"], g["documents"]
    (0.25, 2)
    """
    pa, pb = a.get("per_document") or {}, b.get("per_document") or {}
    docs = sorted(d for d in pa if d in pb and pa[d][1] == pb[d][1])
    if not docs:
        return None
    d, lo, hi = paired_cluster_bootstrap([pa[x][0] for x in docs], [pb[x][0] for x in docs],
                                         [pa[x][1] for x in docs], seed=seed)
    return {"difference": d, "ci95": [lo, hi], "documents": len(docs)}
