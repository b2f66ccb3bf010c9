"""``datagen build``: PDFs -> page images -> rotation strategy -> WebDataset shards.

One machine: worker processes render (with a pixel cap and a time limit), the main process turns
pages in batches on the chosen device and writes one shard stream per split.  Many machines:
``part=(i, n)`` builds a disjoint slice of the documents (shard names carry the part); when the
last part finishes, the part records are merged into ``dataset.json``.

Order of work, and why: each page is first scaled to fit the model input (``preprocess.prepare``), then
turned by the strategy, then letterboxed.  The artifact geometry of a canvas-keeping rotation is
scale-invariant, so this equals rotate-then-resize up to interpolation, at (size/H)^2 of the cost.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from . import __version__
from .contract import (ANGLES, DATASET_JSON, FORMAT, SPLITS, TMP_SUFFIX, ShardWriter, angle_to_class, encode_png,
                       sample_key, write_json_atomic)
from .manifest import (ManifestError, SourceDoc, default_manifest_path, docs_from_manifest,
                       load_manifest, reserved_documents, sha256_file)
from .devices import resolve_device
from .pages import BLANK_INK, PAGE_EXTS, PageJob, PageReader, doc_source  # noqa: F401 (BLANK_INK: re-exported)
from .render import DEFAULT_MAX_PIXELS, DEFAULT_TIMEOUT, RENDERERS, cpu_count, default_workers
from .strategies import draw_skews, get_strategy, make_samples

DEFAULT_SIZE = 128  # CPU-friendly; the paper profile (GPU) uses 224
DEFAULT_DPI = 100.0
DEFAULT_SPLIT = (0.8, 0.1, 0.1)


class BuildError(RuntimeError):
    """A build that cannot proceed (bad sources, --strict failure); message names the file."""


@dataclass
class BuildConfig:
    rotation: str
    size: int = DEFAULT_SIZE
    dpi: float = DEFAULT_DPI
    skew: float = 0.0
    angles: tuple[int, ...] = ANGLES
    split: tuple[float, float, float] = DEFAULT_SPLIT
    seed: int = 0
    device: str = "auto"
    renderer: str = "pdfium"
    workers: int = field(default_factory=default_workers)
    part: tuple[int, int] | None = None
    max_pages_per_doc: int | None = None
    strict: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS
    render_timeout: float = DEFAULT_TIMEOUT
    shard_size: int = 1000
    batch_size: int = 64

    def validate(self) -> None:
        get_strategy(self.rotation)
        if self.size < 16:
            raise ValueError(f"size must be >= 16 pixels, got {self.size}")
        if not (math.isfinite(self.dpi) and 10 <= self.dpi <= 1200):
            raise ValueError(f"dpi must be a number between 10 and 1200, got {self.dpi}")
        if not (math.isfinite(self.render_timeout) and self.render_timeout > 0):
            raise ValueError(f"render timeout must be a finite number of seconds > 0, got {self.render_timeout}")
        if self.max_pixels < 1 or self.shard_size < 1 or self.batch_size < 1:
            raise ValueError("max-pixels, shard-size and batch-size must be >= 1")
        if not (math.isfinite(self.skew) and 0 <= self.skew <= 45):
            raise ValueError(f"skew must be between 0 and 45 degrees, got {self.skew}")
        if not self.angles or any(a not in ANGLES for a in self.angles) or len(set(self.angles)) != len(self.angles):
            raise ValueError(f"angles must be distinct values among {ANGLES}, got {self.angles}")
        check_split(self.split)
        if self.renderer not in RENDERERS:
            raise ValueError(f"unknown renderer {self.renderer!r}; choose one of: {', '.join(RENDERERS)}")
        if self.part is not None and not (1 <= self.part[0] <= self.part[1]):
            raise ValueError(f"part must be i/n with 1 <= i <= n, got {self.part[0]}/{self.part[1]}")
        if self.max_pages_per_doc is not None and self.max_pages_per_doc < 1:
            raise ValueError(f"max-pages-per-doc must be >= 1, got {self.max_pages_per_doc}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1 render process, got {self.workers}")


def check_split(fr) -> tuple[float, float, float]:
    if len(fr) != 3 or any(not math.isfinite(f) or f < 0 for f in fr) or abs(sum(fr) - 1.0) > 1e-3:
        raise ValueError(f"split must be three non-negative fractions TRAIN,VAL,TEST summing to 1, got {fr}")
    return tuple(float(f) for f in fr)


# --------------------------------------------------------------------------- sources
def _slug(name: str) -> str:
    s = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-_")
    return s or "doc"


def resolve_sources(sources: list[str], log: Callable[[str], None] = lambda s: print(s, file=sys.stderr)
                    ) -> list[SourceDoc]:
    """PDF and image files, folders of them (recursive) and manifest files -> documents with
    unique ids.  No sources = the default manifest (fetched into the cache first if needed)."""
    if not sources:
        return docs_from_manifest(load_manifest(default_manifest_path()), log=log)
    docs: list[SourceDoc] = []
    loose: list[Path] = []
    for s in sources:
        p = Path(s)
        if not p.exists():
            raise ValueError(f"{p}: no such file or folder")
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in PAGE_EXTS)
            if not found:
                raise ValueError(f"{p}: folder holds no PDF or image files")
            loose.extend(found)
        elif p.suffix.lower() == ".toml":
            docs.extend(docs_from_manifest(load_manifest(p), log=log))
        elif p.suffix.lower() in PAGE_EXTS:
            loose.append(p)
        else:
            raise ValueError(f"{p}: not a PDF, an image or a .toml manifest")
    taken = {d.id for d in docs}
    seen_paths = set()
    for p in loose:
        rp = p.resolve()
        if rp in seen_paths:
            continue
        seen_paths.add(rp)
        digest = sha256_file(rp)
        did = _slug(p.stem)
        if did in taken:
            did = f"{did}-{digest[:8]}"
        taken.add(did)
        docs.append(SourceDoc(did, str(rp), digest, origin=f"file:{p}"))
    ids = [d.id for d in docs]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ValueError(f"document id {dup[0]!r} appears twice among the sources; ids must be unique")
    return docs


def refuse_reserved(docs: list[SourceDoc]) -> None:
    """No page kept for evaluation (a built-in ``purpose = "eval"`` manifest) may enter a split:
    ValueError naming the file and the manifest entry it matches, by sha256."""
    reserved = reserved_documents()
    for d in docs:
        if d.sha256 in reserved:
            raise ValueError(f"{d.path}: is {reserved[d.sha256]}, a page kept for evaluation only; it must not "
                             "enter a training split (remove it from the sources)")


def assign_splits(docs: list[SourceDoc], fractions, seed: int) -> dict[str, str]:
    """Documents -> split, deterministically, in the given proportions (rounded).

    Forced splits (from a manifest) are kept and count toward their split.  The rest are ordered
    by a hash of (seed, id) and dealt out: test first, then val, then train.  Every split with a
    non-zero fraction gets at least one document when there are enough documents.  Documents
    with the same content (sha256) are one unit: the same PDF under two names can never fall on
    both sides of a split.
    """
    fr = dict(zip(SPLITS, check_split(fractions)))
    units: dict[str, list[SourceDoc]] = {}
    for d in docs:
        units.setdefault(d.sha256, []).append(d)
    heads = [min(g, key=lambda d: d.id) for g in units.values()]
    for g in units.values():  # a forced split anywhere in the group binds the group
        forced = sorted({d.split for d in g if d.split})
        if len(forced) > 1:
            raise ValueError(f"{g[0].path}: the same content is forced into splits {' and '.join(forced)} "
                             f"(documents {', '.join(d.id for d in g)})")
    forced_of = {min(g, key=lambda d: d.id).id: next((d.split for d in g if d.split), None) for g in units.values()}
    n = len(heads)
    nonzero = [s for s in SPLITS if fr[s] > 0]
    target = {s: int(round(fr[s] * n)) for s in SPLITS}
    if n >= len(nonzero):
        for s in nonzero:
            target[s] = max(target[s], 1)
    while sum(target.values()) > n:  # rounding overshoot: take from the largest
        big = max(SPLITS, key=lambda s: (target[s], s == "train"))
        target[big] -= 1
    out = {h.id: forced_of[h.id] for h in heads if forced_of[h.id]}
    have = {s: sum(1 for v in out.values() if v == s) for s in SPLITS}
    free = sorted((h for h in heads if not forced_of[h.id]),
                  key=lambda d: hashlib.sha256(f"{seed}:{d.id}".encode()).hexdigest())
    rest = max(nonzero, key=lambda s: fr[s])
    i = 0
    for s in ("test", "val"):
        need = max(0, target[s] - have[s])
        for d in free[i:i + need]:
            out[d.id] = s
        i += need
    for d in free[i:]:
        out[d.id] = "train" if fr["train"] > 0 else rest
    for g in units.values():
        head = min(g, key=lambda d: d.id)
        for d in g:
            out[d.id] = out[head.id]
    return out


# --------------------------------------------------------------------------- build
def _versions() -> dict:
    import kornia
    import PIL

    v = {"docorient": __version__, "python": platform.python_version(), "torch": torch.__version__,
         "kornia": kornia.__version__, "pillow": PIL.__version__, "numpy": np.__version__}
    try:
        import pypdfium2

        v["pypdfium2"] = pypdfium2.version.PYPDFIUM_INFO.api_tag if hasattr(pypdfium2, "version") else "?"
        v["pdfium"] = str(pypdfium2.version.PDFIUM_INFO.build) if hasattr(pypdfium2, "version") else "?"
    except Exception:  # version reporting must never break a build
        pass
    return v


OWNER_MARK = ".datagen-build"  # in OUT: this folder's shard files were written by datagen build
_SHARD_RE = re.compile(rf"^({'|'.join(SPLITS)})-.*\.tar({re.escape(TMP_SUFFIX)})?$")


def _listed_shards(out: Path) -> set[str]:
    """Shard names that a build record in ``out`` lists (dataset.json and part records)."""
    names: set[str] = set()
    for f in [out / DATASET_JSON, *out.glob("dataset-part*.json")]:
        try:
            rec = json.loads(f.read_text(encoding="utf-8"))
            names.update(str(sh["name"]) for sh in rec.get("shards", []))
        except (OSError, json.JSONDecodeError, TypeError, KeyError, AttributeError):
            continue
    return names


def claim_out(out: Path) -> None:
    """Make sure ``out`` holds no shard-named file that this tool did not write, then mark it.

    A folder is ours when it carries :data:`OWNER_MARK` (a build started there) or when its
    build records list the shard files in it.  A ``train-*.tar`` that nothing accounts for is
    the user's: refuse rather than delete it.
    """
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    if (out / OWNER_MARK).exists():
        return
    listed = _listed_shards(out)
    foreign = sorted(f.name for f in out.iterdir() if f.is_file() and _SHARD_RE.match(f.name) and f.name not in listed)
    if foreign:
        raise ValueError(f"{out}: holds {foreign[0]}" + (f" and {len(foreign) - 1} more shard-named file(s)"
                                                          if len(foreign) > 1 else "")
                         + " that no datagen build record lists; refusing to delete them: move them away or "
                         "choose another --out")
    from .atomic import atomic_write

    atomic_write(out / OWNER_MARK,
                 lambda t: t.write_text("This folder's shard files are written by datagen build, which may replace them.\n"))


def _clean_out(out: Path, part: tuple[int, int] | None) -> None:
    """Remove what a previous build of this (part of the) variant left, so stale shards never mix
    in.  Only shard files and records of this tool are touched (see :func:`claim_out`)."""
    (out / DATASET_JSON).unlink(missing_ok=True)
    if part:
        # this part's files, any full-build shards, and parts of a different N are all stale
        keep_other = re.compile(rf"^({'|'.join(SPLITS)})-part(\d{{2}})of{part[1]:02d}-\d{{6}}\.tar$")
        for f in out.iterdir():
            m = keep_other.match(f.name)
            if f.is_file() and _SHARD_RE.match(f.name) and not (m and int(m.group(2)) != part[0]):
                f.unlink()
        for f in out.glob("dataset-part*.json"):
            if not f.name.endswith(f"of{part[1]:02d}.json") or f.name == _part_record_name(part):
                f.unlink()
        return
    for f in out.glob("dataset-part*.json"):
        f.unlink()
    for f in out.iterdir():
        if f.is_file() and _SHARD_RE.match(f.name):
            f.unlink()


def _part_record_name(part: tuple[int, int]) -> str:
    return f"dataset-part{part[0]:02d}of{part[1]:02d}.json"


class _Writers:
    def __init__(self, out: Path, cfg: BuildConfig):
        self.w = {s: ShardWriter(out, s, cfg.shard_size, cfg.part) for s in SPLITS}
        self.counts = {s: {str(a): 0 for a in cfg.angles} for s in SPLITS}
        self.mask_sum = {s: {str(a): 0.0 for a in cfg.angles} for s in SPLITS}

    def write(self, split: str, key: str, sample: dict, angle: int, mask_share: float) -> None:
        self.w[split].write(key, sample)
        self.counts[split][str(angle)] += 1
        self.mask_sum[split][str(angle)] += mask_share

    def close(self) -> list[dict]:
        shards = []
        for s in SPLITS:
            shards.extend(self.w[s].close())
        return shards

    def abort(self) -> None:
        for w in self.w.values():  # leave no temporary shard behind on a failure we can catch
            if w.fileobj is not None:
                w.fileobj.close()
                Path(str(w.path) + TMP_SUFFIX).unlink(missing_ok=True)


def _process_batch(items: list[dict], cfg: BuildConfig, device: torch.device, writers: _Writers) -> int:
    """Turn one batch of same-shaped fitted pages by every angle and write the samples."""
    fitted = np.stack([it["page"].fitted for it in items])  # (B, h, w) uint8
    papers = [it["page"].paper for it in items]
    n = 0
    for angle in cfg.angles:
        keys = [sample_key(it["doc"].id, it["page"].index + 1, angle) for it in items]
        skews = draw_skews(keys, cfg.seed, cfg.skew)
        img8, masks, box = make_samples(cfg.rotation, fitted, papers, angle, skews, cfg.size, device)
        mask8 = masks.astype(np.uint8) * 255
        shares = masks.reshape(len(items), -1).mean(axis=1)
        for it, key, sk, im, mk, share in zip(items, keys, skews, img8, mask8, shares):
            pg = it["page"]
            meta = {"key": key, "doc_id": it["doc"].id, "page": pg.index + 1, "angle": angle, "skew": sk,
                    "strategy": cfg.rotation, "source_size": list(pg.src_size), "render_dpi": cfg.dpi,
                    "page_box": box, "mask_share": round(float(share), 6), "split": it["split"]}
            sample = {"png": encode_png(im), "mask.png": encode_png(mk), "cls": str(angle_to_class(angle)).encode(),
                      "json": json.dumps(meta, sort_keys=True).encode()}
            writers.write(it["split"], key, sample, angle, float(share))
            n += 1
    return n


# names of a PDF's active content: scripts and actions that launch programs (a PDF viewer may run
# them; datagen only renders the pages, and pdfium runs no document script)
_ACTION_RE = re.compile(rb"/(JavaScript|JS|Launch)(?![A-Za-z0-9])")


def pdf_actions(path: str | os.PathLike) -> list[str]:
    """The kinds of active content (``JavaScript``, ``Launch``) that the PDF at ``path`` names in
    its uncompressed structure (names packed in compressed object streams are not seen)."""
    data = Path(path).read_bytes()
    if b"%PDF" not in data[:1024]:
        return []
    found = {m.group(1).decode() for m in _ACTION_RE.finditer(data)}
    return sorted({"JavaScript" if k in ("JS", "JavaScript") else k for k in found})


def warn_actions(docs: list[SourceDoc], log: Callable[[str], None]) -> int:
    """One warning line per PDF that carries scripts or launch actions; how many did."""
    n = 0
    for d in docs:
        kinds = pdf_actions(d.path)
        if kinds:
            n += 1
            log(f"warning: {d.path}: the PDF carries {' and '.join(kinds)} actions; datagen renders its pages and "
                "never runs them")
    return n


def build(sources: list[str], out: str | os.PathLike, cfg: BuildConfig, progress: bool = True,
          log: Callable[[str], None] | None = None, handler=None, force: bool = False) -> dict:
    """Build one dataset variant into ``out``; returns the build record (what dataset.json holds).

    Raises ``ValueError`` for bad options or sources, ``BuildError`` for a ``--strict`` failure
    or a build without a single sample.  ``handler`` replaces the page job of the render workers
    (tests use it to simulate hangs and crashes).  A complete earlier build of the same sources
    (same sha256s), settings and version is kept as it is (the build is deterministic, so it
    would come out byte-identical) unless ``force``.  Splits are dealt among the documents that
    can be read, so an unreadable file never takes a split's only slot.  A PDF that carries
    JavaScript or launch actions is named in one warning line and counted (``pdfs_with_actions``).
    """
    from tqdm import tqdm

    log = log or (lambda s: tqdm.write(s, file=sys.stderr))
    cfg.validate()
    device = resolve_device(cfg.device)
    t0 = time.time()
    docs = sorted(resolve_sources(list(sources), log=log), key=lambda d: d.id)
    refuse_reserved(docs)
    mine_ids = {d.id for i, d in enumerate(docs) if cfg.part is None or i % cfg.part[1] == cfg.part[0] - 1}
    mine = [d for d in docs if d.id in mine_ids]
    out = Path(out)
    if not force and cfg.part is None:
        same = up_to_date(out, cfg, sources, mine)
        if same is not None:
            log(f"{out} is up to date (same sources, settings and version); --force rebuilds it")
            return same
    claim_out(out)
    _clean_out(out, cfg.part)
    run = _Run(cfg, device, log, out, mine)
    run.actions = warn_actions(mine, log)
    threads = torch.get_num_threads()
    if device.type == "cpu":  # the render workers own the other cores; oversubscription halves throughput
        torch.set_num_threads(max(1, cpu_count() - cfg.workers))
    job = handler or PageJob(cfg.size, cfg.dpi, cfg.renderer, cfg.max_pixels, cfg.render_timeout)
    try:
        with PageReader(cfg.size, workers=cfg.workers, timeout=cfg.render_timeout, job=job) as reader:
            todo, todo_counts = _select(run, reader, docs, mine_ids)
            _render(run, reader, todo, todo_counts, progress)
        if run.n_samples == 0 and cfg.part is None:
            raise BuildError(f"{out}: no samples: every selected page of the {len(mine)} document(s) was blank or "
                             f"unreadable ({len(run.skipped)} skipped); nothing was written")
        shards = run.writers.close()
        torch.set_num_threads(threads)
    except BaseException:
        torch.set_num_threads(threads)
        run.writers.abort()
        raise
    record = _record(run, sources, shards, t0)
    if cfg.part:
        record["part"] = list(cfg.part)
        write_json_atomic(out / _part_record_name(cfg.part), record)
        merged = merge_parts(out, cfg.part[1])
        return merged or record
    write_json_atomic(out / DATASET_JSON, record)
    return record


class _Run:
    """One build under way: its settings, its writers, and what it has counted and skipped."""

    def __init__(self, cfg: BuildConfig, device: torch.device, log: Callable[[str], None], out: Path,
                 mine: list[SourceDoc]):
        self.cfg, self.device, self.log, self.out, self.mine = cfg, device, log, out, mine
        self.writers = _Writers(out, cfg)
        self.skipped: list[dict] = []
        self.doc_info: dict[str, dict] = {}
        self.used = {d.id: 0 for d in mine}
        self.splits: dict[str, str] = {}
        self.n_samples = 0
        self.actions = 0

    def skip(self, doc: SourceDoc, page: int | None, reason: str, fatal: bool = True) -> None:
        where = f"{doc.path}" + (f" page {page}" if page else "")
        self.skipped.append({"doc": doc.id, "file": doc.path, "page": page, "reason": reason})
        self.log(f"skipped {where}: {reason}")
        if self.cfg.strict and fatal:
            raise BuildError(f"{where}: {reason} (--strict)")


def _select(run: _Run, reader, docs: list[SourceDoc], mine_ids: set[str]) -> tuple[list, list]:
    """Count every document's pages, deal the splits among the readable ones, and select this
    part's pages: (sources to render, their page counts)."""
    counts = reader.counts([doc_source(d) for d in docs])
    readable = [d for d, c in zip(docs, counts) if not isinstance(c, str)]
    run.splits = assign_splits(readable, run.cfg.split, run.cfg.seed)
    todo, todo_counts = [], []
    for d, c in zip(docs, counts):
        if d.id not in mine_ids:
            continue
        if isinstance(c, str):
            run.doc_info[d.id] = {"pages_total": 0}
            run.skip(d, None, c)
            continue
        src = doc_source(d, limit=run.cfg.max_pages_per_doc)
        try:
            sel = src.select(c)
        except ManifestError as e:
            run.skip(d, None, str(e))
            continue
        run.doc_info[d.id] = {"pages_total": c, "pages_selected": len(sel)}
        todo.append(src)
        todo_counts.append(c)
    return todo, todo_counts


def _render(run: _Run, reader, todo: list, todo_counts: list, progress: bool) -> None:
    """Render the selected pages and write their samples, in batches of same-shaped pages."""
    from tqdm import tqdm

    cfg = run.cfg
    by_id = {d.id: d for d in run.mine}
    total = sum(info.get("pages_selected", 0) for info in run.doc_info.values())
    bar = tqdm(total=total, unit="page", desc=f"{run.out.name} [{cfg.rotation}]", disable=not progress,
               file=sys.stderr, dynamic_ncols=True, mininterval=0.5)
    groups: dict[tuple[int, int], list[dict]] = {}
    for it in reader.pages(todo, todo_counts):
        bar.update(1)
        doc = by_id[it.source.doc]
        if not hasattr(it, "fitted"):  # a Skip
            run.skip(doc, None if it.index is None else it.index + 1, it.reason, fatal=not it.blank)
            continue
        run.used[doc.id] += 1
        g = groups.setdefault(it.fitted.shape, [])
        g.append({"doc": doc, "page": it, "split": run.splits[doc.id]})
        if len(g) >= cfg.batch_size:
            run.n_samples += _process_batch(g, cfg, run.device, run.writers)
            groups[it.fitted.shape] = []
            bar.set_postfix(samples=run.n_samples, refresh=False)
    for shape in sorted(groups):
        if groups[shape]:
            run.n_samples += _process_batch(groups[shape], cfg, run.device, run.writers)
    bar.set_postfix(samples=run.n_samples)
    bar.close()


def _record(run: _Run, sources: list[str], shards: list, t0: float) -> dict:
    """What ``dataset.json`` holds (or a part's record)."""
    cfg, writers = run.cfg, run.writers
    for d in run.mine:
        run.doc_info.setdefault(d.id, {})["pages_used"] = run.used[d.id]
    counts_out = {s: {**writers.counts[s], "total": sum(writers.counts[s].values())} for s in SPLITS}
    mask_share = {s: {a: (round(writers.mask_sum[s][a] / writers.counts[s][a], 6) if writers.counts[s][a] else None)
                      for a in writers.counts[s]} for s in SPLITS}
    cfg_dict = asdict(cfg)
    cfg_dict["split"] = dict(zip(SPLITS, cfg.split))
    return {
        "format": FORMAT,
        "variant": run.out.name,
        "strategy": cfg.rotation,
        "seed": cfg.seed,
        "config": cfg_dict,
        "sources": [str(Path(x).resolve()) for x in sources],
        "versions": _versions(),
        "counts": counts_out,
        "mask_share": mask_share,
        "documents": [{"id": d.id, "file": d.path, "sha256": d.sha256, "split": run.splits.get(d.id), "pages": d.pages,
                       "license": d.license, "origin": d.origin, **({"rotation": d.rotation} if d.rotation else {}),
                       **run.doc_info.get(d.id, {})} for d in run.mine],
        "skipped": run.skipped,
        "pdfs_with_actions": run.actions,
        "shards": shards,
        "elapsed_s": round(time.time() - t0, 2),
    }


# settings that change the bytes of a build (workers, device, batch size and --strict do not)
_OUTPUT_KEYS = ("rotation", "size", "dpi", "skew", "angles", "split", "seed", "renderer", "max_pages_per_doc",
                "max_pixels", "render_timeout", "shard_size")


def up_to_date(out: Path, cfg: BuildConfig, sources, docs: list[SourceDoc]) -> dict | None:
    """The existing record when ``out`` holds a complete build of exactly this; else None."""
    f = out / DATASET_JSON
    if not f.is_file():
        return None
    try:
        rec = json.loads(f.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, OSError):
        return None
    want = asdict(cfg)
    want["split"] = dict(zip(SPLITS, cfg.split))
    want = json.loads(json.dumps(want))
    if rec.get("format") != FORMAT or rec.get("parts") or rec.get("versions", {}).get("docorient") != __version__:
        return None
    if any(rec.get("config", {}).get(k) != want[k] for k in _OUTPUT_KEYS):
        return None
    if rec.get("sources") != [str(Path(x).resolve()) for x in sources]:
        return None
    if sorted((d["id"], d["sha256"]) for d in rec.get("documents", [])) != sorted((d.id, d.sha256) for d in docs):
        return None
    for sh in rec.get("shards", []):
        p = out / sh["name"]
        if not p.is_file() or p.stat().st_size == 0:
            return None
    from .contract import sha256_of

    if any(sha256_of(out / sh["name"]) != sh["sha256"] for sh in rec.get("shards", [])):
        return None
    return rec


def merge_parts(out: Path, n: int) -> dict | None:
    """When all ``n`` part records are in ``out``, merge them into ``dataset.json`` (atomically)."""
    recs = []
    for i in range(1, n + 1):
        f = out / _part_record_name((i, n))
        if not f.exists():
            return None
        recs.append(json.loads(f.read_text(encoding="utf-8")))
    for i, r in enumerate(recs[1:], start=2):
        diff = [k for k in _OUTPUT_KEYS if r["config"].get(k) != recs[0]["config"].get(k)]
        if r.get("sources") != recs[0].get("sources"):
            diff.append("sources")
        if diff:
            raise BuildError(f"{out}: part {i}/{n} was built with other settings than part 1/{n} ({', '.join(diff)}); "
                             "rebuild the parts with the same command")
    base = dict(recs[0])
    base.pop("part", None)
    base["parts"] = n
    counts = {s: {} for s in SPLITS}
    for r in recs:
        for s in SPLITS:
            for a, v in r["counts"][s].items():
                counts[s][a] = counts[s].get(a, 0) + v
    base["counts"] = counts
    weights = {s: {a: 0.0 for a in counts[s] if a != "total"} for s in SPLITS}
    for r in recs:
        for s in SPLITS:
            for a in weights[s]:
                if r["mask_share"][s].get(a) is not None:
                    weights[s][a] += r["mask_share"][s][a] * r["counts"][s][a]
    base["mask_share"] = {s: {a: (round(weights[s][a] / counts[s][a], 6) if counts[s][a] else None)
                              for a in weights[s]} for s in SPLITS}
    for key in ("documents", "skipped", "shards"):
        base[key] = [x for r in recs for x in r[key]]
    base["documents"].sort(key=lambda d: d["id"])
    base["shards"].sort(key=lambda s: s["name"])
    base["config"] = {**base["config"], "part": None}
    base["pdfs_with_actions"] = sum(r.get("pdfs_with_actions", 0) for r in recs)
    base["elapsed_s"] = round(sum(r["elapsed_s"] for r in recs), 2)
    write_json_atomic(out / DATASET_JSON, base)
    return base


def summary_lines(record: dict) -> list[str]:
    """Human summary: counts per split and class, skips, timing."""
    lines = []
    angles = [a for a in record["counts"]["train"] if a != "total"]
    lines.append(f"{'split':<6}" + "".join(f"{a + '°':>8}" for a in angles) + f"{'total':>8}  documents")
    for s in SPLITS:
        c = record["counts"][s]
        nd = sum(1 for d in record["documents"] if d["split"] == s)
        lines.append(f"{s:<6}" + "".join(f"{c[a]:>8}" for a in angles) + f"{c['total']:>8}  {nd}")
    n_skip = len(record["skipped"])
    blank = sum(1 for s in record["skipped"] if s["reason"].startswith("blank page"))
    total = sum(record["counts"][s]["total"] for s in SPLITS)
    el = record.get("elapsed_s") or 0
    lines.append(f"skipped: {n_skip} ({blank} blank pages, {n_skip - blank} unreadable)")
    if el:
        lines.append(f"{total} samples in {el:.1f} s ({total / el:.1f} samples/s)")
    return lines
