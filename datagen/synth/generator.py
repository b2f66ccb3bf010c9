"""Plans and draws pages (:class:`Generator`) and writes the output folder (:func:`synth`)."""
from __future__ import annotations

import io
import os
import random
import sys
import time
from pathlib import Path
from typing import Callable, Iterable

from PIL import Image

from ..atomic import atomic_dir, write_json_atomic
from .corpus import SYSTEM_LOCALE_DIRS, Corpus, Language
from .fonts import _RAQM, SYSTEM_FONT_DIRS, FontBook, scan_fonts
from .layouts import LANDSCAPE, LAYOUT_FUNCS, LAYOUT_WEIGHTS, LAYOUTS
from .page import Page
from .scripts import NEEDS_SHAPING, SCRIPTS
from .text import text_for

DEFAULT_SIZE_PX = 1100
MIN_SIZE_PX, MAX_SIZE_PX = 200, 6000
GENERATOR = "docorient datagen synth"
FORMAT_VERSION = 1


def page_size(r: random.Random, layout: str, long_px: int) -> tuple[int, int]:
    if layout == "receipt":
        return int(long_px * r.uniform(0.32, 0.5)), long_px
    if layout == "slide":
        ratio = r.choice([16 / 9, 16 / 9, 4 / 3, 16 / 10])
        return long_px, int(long_px / ratio)
    ratio = r.choice([2 ** 0.5, 11 / 8.5, 14 / 8.5, 1.5, 1.33])
    short = int(long_px / ratio)
    return (long_px, short) if r.random() < LANDSCAPE[layout] else (short, long_px)


# relative weight of a language within its script (default 3; 1 for label-only catalogues)
LANG_WEIGHTS = {"en": 60.0, "de": 12.0, "fr": 12.0, "es": 12.0, "it": 6.0, "pt_BR": 6.0, "nl": 6.0, "pl": 6.0,
                "ru": 6.0, "uk": 4.0, "zh_CN": 6.0, "zh_TW": 4.0, "ar": 6.0, "fa": 4.0}


class Generator:
    """Plans and draws pages: ``Generator(...).page(i) -> (PIL image, record)``."""

    def __init__(self, seed: int = 0, size_px: int = DEFAULT_SIZE_PX, scripts: Iterable[str] | None = None,
                 layouts: Iterable[str] | None = None, fonts_dirs: Iterable[str | os.PathLike] = (),
                 system_fonts: bool = True, locale_dirs: Iterable[str | os.PathLike] | None = None,
                 cache_dir: Path | None = None, log: Callable[[str], None] = lambda s: None):
        if not MIN_SIZE_PX <= size_px <= MAX_SIZE_PX:
            raise ValueError(f"size_px must be in [{MIN_SIZE_PX}, {MAX_SIZE_PX}], got {size_px}")
        self.seed, self.size_px = seed, size_px
        req = list(dict.fromkeys(scripts)) if scripts else list(SCRIPTS)
        bad = [s for s in req if s not in SCRIPTS]
        if bad:
            raise ValueError(f"unknown script(s) {', '.join(bad)}; choose among {', '.join(SCRIPTS)}")
        lay = list(dict.fromkeys(layouts)) if layouts else list(LAYOUTS)
        badl = [s for s in lay if s not in LAYOUTS]
        if badl:
            raise ValueError(f"unknown layout(s) {', '.join(badl)}; choose among {', '.join(LAYOUTS)}")
        self.layouts = lay
        self.notes: list[str] = []
        dirs = [*(SYSTEM_FONT_DIRS if system_fonts else ()), *fonts_dirs]
        for d in fonts_dirs:
            if not Path(d).exists():
                raise ValueError(f"fonts folder {d} does not exist")
        faces, font_notes = scan_fonts(dirs, cache_dir, log)
        self.notes += font_notes
        usable = [f for f in faces if not f.excluded]
        if not usable:
            raise ValueError(f"no usable fonts found in {', '.join(map(str, dirs)) or '(no folders)'}; install fonts "
                             f"(e.g. apt-get install fonts-dejavu-core) or pass --fonts-dir")
        self.corpus = Corpus.load(SYSTEM_LOCALE_DIRS if locale_dirs is None else locale_dirs, cache_dir, log)
        if not self.corpus.languages:
            raise ValueError(f"no text found: no usable .mo catalogues under "
                             f"{', '.join(map(str, locale_dirs or SYSTEM_LOCALE_DIRS))}")
        self.fonts = FontBook(usable, self.corpus, [s for s in req if self.corpus.by_script.get(s)])
        self.scripts: list[str] = []
        self.langs: dict[str, list[str]] = {}
        for s in req:
            if not self.corpus.by_script.get(s):
                self.notes.append(f"script {s}: no text in the catalogues; skipped")
                continue
            if not self.fonts.families(s, "text") and not self.fonts.families(s, "mono"):
                self.notes.append(f"script {s}: no installed font covers it; skipped")
                continue
            if s in NEEDS_SHAPING and not _RAQM:
                self.notes.append(f"script {s}: needs text shaping (libraqm), which PIL lacks here; skipped")
                continue
            if s in ("hebrew", "thaana") and not _RAQM:
                self.notes.append(f"script {s}: no libraqm: drawn as reversed strings (no bidi)")
            # languages with enough text for at least one text face
            fams = self.fonts.families(s, "text") or self.fonts.families(s, "mono")
            role = "text" if self.fonts.families(s, "text") else "mono"
            faces = [self.fonts.faces_of(s, role, f)[0] for f in fams]
            langs = [c for c in self.corpus.by_script[s]
                     if any(text_for(self.corpus.languages[c], f, SCRIPTS[s]).ok for f in faces)]
            if not langs:
                self.notes.append(f"script {s}: no language has enough text its fonts can draw; skipped")
                continue
            if not self.fonts.families(s, "text"):
                self.notes.append(f"script {s}: only monospace fonts cover it")
            if not self.fonts.families(s, "hand"):
                self.notes.append(f"script {s}: no handwriting font covers it; handwriting drawn with text fonts")
            self.scripts.append(s)
            self.langs[s] = langs
        if not self.scripts:
            raise ValueError(f"none of the requested scripts ({', '.join(req)}) can be drawn: "
                             + "; ".join(n for n in self.notes if n.startswith("script")))

    def _lang(self, r: random.Random, script: str) -> Language:
        codes = self.langs[script]
        weights = [LANG_WEIGHTS.get(c, 1.0 if self.corpus.languages[c].joined else 3.0) for c in codes]
        return self.corpus.languages[r.choices(codes, weights)[0]]

    def page(self, index: int) -> tuple[Image.Image, dict]:
        r = random.Random(f"docorient-synth:{self.seed}:{index}")
        layout = r.choices(self.layouts, [LAYOUT_WEIGHTS[x] for x in self.layouts])[0]
        script = r.choices(self.scripts, [SCRIPTS[s].weight for s in self.scripts])[0]
        lang = self._lang(r, script)
        w, h = page_size(r, layout, self.size_px)
        theme = "dark" if layout == "slide" and r.random() < 0.3 else "light"
        pg = Page(self, r, layout, SCRIPTS[script], lang, w, h, theme)
        LAYOUT_FUNCS[layout](pg)
        drawn = {"japanese" if c == "kana" else c for c in pg.cv.scripts} | {script}
        if script == "japanese":
            drawn.discard("han")
        rec = {"layout": layout, "script": script, "scripts": sorted(drawn), "language": lang.code,
               "fonts": sorted(pg.cv.faces), "width": w, "height": h, "theme": theme,
               "direction": "rtl" if SCRIPTS[script].rtl else "ltr"}
        if not pg.hand_ok:
            rec["note"] = f"no handwriting font for {script}: handwriting drawn with a text font"
        return pg.cv.im, rec

    def describe(self) -> dict:
        return {"scripts": self.scripts,
                "languages": {s: self.langs[s] for s in self.scripts},
                "font_faces": {s: self.fonts.count(s) for s in self.scripts},
                "font_families": {s: {r: self.fonts.families(s, r) for r in ("text", "mono", "hand")
                                      if self.fonts.families(s, r)} for s in self.scripts},
                "raqm": _RAQM}


def png_bytes(im: Image.Image) -> bytes:
    b = io.BytesIO()
    im.save(b, format="PNG", compress_level=3)
    return b.getvalue()


def page_name(seed: int, index: int) -> str:
    return f"synth-s{seed}-{index:05d}.png"


_WORKER: Generator | None = None


def _work(args) -> tuple[int, bytes, dict]:
    i = args
    im, rec = _WORKER.page(i)
    return i, png_bytes(im), rec


def synth(out: str | os.PathLike, pages: int, seed: int = 0, size_px: int = DEFAULT_SIZE_PX,
          scripts: Iterable[str] | None = None, layouts: Iterable[str] | None = None,
          fonts_dirs: Iterable[str | os.PathLike] = (), system_fonts: bool = True,
          locale_dirs: Iterable[str | os.PathLike] | None = None, start: int = 0, force: bool = False,
          workers: int = 1, cache: bool = True, log: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
          progress: Callable[[int], None] | None = None) -> dict:
    """Write ``pages`` synthetic upright pages (indices ``start .. start+pages-1``) and
    ``synth.json`` into ``out``; returns the record.  ``out`` must not exist or be empty, unless
    ``force`` (then it is replaced).  The folder appears atomically."""
    out = Path(out)
    if pages < 1:
        raise ValueError(f"pages must be at least 1, got {pages}")
    if start < 0:
        raise ValueError(f"start must be >= 0, got {start}")
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ValueError(f"{out}: folder exists and is not empty; choose another folder (or --force to replace it)")
    from ..manifest import cache_root

    gen = Generator(seed, size_px, scripts, layouts, fonts_dirs, system_fonts, locale_dirs,
                    cache_root() if cache else None, log)
    for n in gen.notes:
        if "skipped" in n:
            log(f"synth: {n}")
    out.parent.mkdir(parents=True, exist_ok=True)
    items: list[dict] = []
    t0 = time.perf_counter()
    with atomic_dir(out) as tmp:
        idx = range(start, start + pages)
        if workers > 1:
            import multiprocessing as mp

            global _WORKER
            _WORKER = gen
            ctx = mp.get_context("fork")
            with ctx.Pool(workers) as pool:
                results = pool.imap(_work, idx, chunksize=4)
                items = _collect(results, tmp, seed, progress)
            _WORKER = None
        else:
            items = _collect(((i, png_bytes(im), rec) for i in idx for im, rec in [gen.page(i)]), tmp, seed, progress)
        elapsed = time.perf_counter() - t0
        record = {"generator": GENERATOR, "format": FORMAT_VERSION, "seed": seed, "start": start, "pages": pages,
                  "size_px": size_px, "layouts": gen.layouts, **gen.describe(), "notes": gen.notes, "items": items}
        write_json_atomic(tmp / "synth.json", record, indent=1, ensure_ascii=False)
    record["elapsed_s"] = elapsed
    return record


def _collect(results, tmp: Path, seed: int, progress) -> list[dict]:
    items = []
    for i, data, rec in results:
        name = page_name(seed, i)
        (tmp / name).write_bytes(data)
        items.append({"file": name, **rec, "seed": seed, "index": i})
        if progress:
            progress(1)
    return items
