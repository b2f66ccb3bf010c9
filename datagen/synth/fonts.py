"""Font faces found at run time: which scripts each covers (fontTools), grouped per script and
role (text, mono, hand); PIL font objects and the :class:`Style` text is drawn with."""
from __future__ import annotations

import bisect
import json
import math
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from PIL import ImageFont, features

from ..atomic import write_json_atomic
from .corpus import Corpus
from .scripts import _IGNORABLE, CJK_SCRIPTS, SHAPING_TAGS

SYSTEM_FONT_DIRS = ("/usr/share/fonts",)
FONT_EXTS = (".ttf", ".otf", ".ttc", ".otc")
CACHE_VERSION = 4


HAND_TOKENS = ("hand", "dancing script", "rufscript", "brush script", "dkg", "breip", "becausewe", "because we",
               "femke", "humor", "comic", "ecolier",
               "klee", "yoz", "seto", "yusei", "navilu", "delphine", "kalam", "caveat", "indie", "marker", "brush",
               "chalk", "scrawl")
MONO_TOKENS = ("mono", "courier", "inconsolata", "code", "typewriter", "consol")
EXCLUDE_TOKENS = ("math", "symbol", "music", "emoji", "signwriting", "mayan", "siyaq", "dingbat", "ornament",
                  "icon", "wingding", "webding", "braille", "barcode", "unjoined", "d050000l", "keyboard")


@dataclass
class Face:
    """One face of a font file: where it is, what it is, which code points it maps."""
    path: str
    index: int
    family: str
    style: str
    weight: int
    italic: bool
    fixed: bool
    ranges: list[int]             # flattened inclusive code point ranges [a0, b0, a1, b1, ...]
    otl: tuple[str, ...] = ()     # OpenType script tags of its GSUB/GPOS tables
    role: str = "text"            # text | mono | hand
    starts: list[int] = field(default_factory=list, repr=False)
    cjk: bool = False             # maps >= 2000 unified ideographs (its other scripts look foreign)

    def __post_init__(self):
        self.starts = self.ranges[0::2]
        ideo = sum(max(0, min(b, 0x9FFF) - max(a, 0x4E00) + 1) for a, b in zip(self.ranges[0::2], self.ranges[1::2]))
        self.cjk = ideo >= 2000
        stem = Path(self.path).stem.lower()   # some files' own style fields are wrong: trust the name too
        if "italic" in stem or "oblique" in stem:
            self.italic = True
        if "bold" in stem and "semibold" not in stem:
            self.weight = max(self.weight, 700)
        low = f"{self.family} {Path(self.path).name}".lower()
        if any(t in low for t in HAND_TOKENS):
            self.role = "hand"
        elif self.fixed or any(t in low for t in MONO_TOKENS):
            self.role = "mono"

    @property
    def name(self) -> str:
        base = Path(self.path).name
        return f"{base}#{self.index}" if self.path.lower().endswith((".ttc", ".otc")) else base

    @property
    def excluded(self) -> bool:
        low = f"{self.family} {Path(self.path).name}".lower()
        return any(t in low for t in EXCLUDE_TOKENS)

    def has(self, ch: str) -> bool:
        if ch in _IGNORABLE:
            return True
        cp = ord(ch)
        i = bisect.bisect_right(self.starts, cp) - 1
        return i >= 0 and cp <= self.ranges[2 * i + 1]

    def covers(self, s: str) -> bool:
        return all(self.has(c) for c in s)


def _ranges_of(cps: Iterable[int]) -> list[int]:
    out: list[int] = []
    for cp in sorted(cps):
        if out and cp == out[-1] + 1:
            out[-1] = cp
        else:
            out += [cp, cp]
    return out


def _name_of(tt, ids: tuple[int, ...]) -> str:
    name = tt["name"]
    for nid in ids:
        for rec in name.names:
            if rec.nameID == nid and rec.platformID == 3:
                try:
                    return rec.toUnicode().strip()
                except UnicodeDecodeError:
                    pass
        n = name.getDebugName(nid)
        if n:
            return n.strip()
    return ""


def _scan_file(path: str) -> list[dict]:
    """Faces of one font file as plain dicts (raises on an unreadable file)."""
    from fontTools.ttLib import TTCollection, TTFont

    if path.lower().endswith((".ttc", ".otc")):
        fonts = TTCollection(path, lazy=True).fonts
    else:
        fonts = [TTFont(path, lazy=True)]
    out = []
    for index, tt in enumerate(fonts):
        cmap = tt.getBestCmap() or {}
        cps = [cp for cp, g in cmap.items() if g != ".notdef"]
        os2 = tt["OS/2"] if "OS/2" in tt else None
        style = _name_of(tt, (17, 2))
        italic = bool(os2 and os2.fsSelection & 1) or any(w in style.lower() for w in ("italic", "oblique"))
        otl = set()
        for tag in ("GSUB", "GPOS"):
            if tag in tt and getattr(tt[tag].table, "ScriptList", None) is not None:
                otl.update(r.ScriptTag for r in tt[tag].table.ScriptList.ScriptRecord)
        out.append({"index": index, "family": _name_of(tt, (16, 1)) or Path(path).stem, "style": style,
                    "weight": int(os2.usWeightClass) if os2 else 400, "italic": italic,
                    "fixed": bool("post" in tt and tt["post"].isFixedPitch), "ranges": _ranges_of(cps),
                    "otl": sorted(otl)})
    return out


def _font_files(dirs: Iterable[str | os.PathLike]) -> list[Path]:
    files: list[Path] = []
    for d in dirs:
        d = Path(d)
        if d.is_file() and d.suffix.lower() in FONT_EXTS:
            files.append(d)
        elif d.is_dir():
            files += [p for p in d.rglob("*") if p.suffix.lower() in FONT_EXTS and p.is_file()]
    return sorted(set(files), key=str)


def scan_fonts(dirs: Iterable[str | os.PathLike], cache_dir: Path | None = None,
               log: Callable[[str], None] = lambda s: None) -> tuple[list[Face], list[str]]:
    """Every face of every font file under ``dirs`` (sorted by path), and notes on files that
    could not be read.  The per-file scan is cached in ``cache_dir`` keyed on size and mtime."""
    files = _font_files(dirs)
    cache_path = cache_dir / "synth-fonts.json" if cache_dir else None
    cache: dict = {}
    if cache_path and cache_path.is_file():
        try:
            cache = json.loads(cache_path.read_text(encoding="utf-8"))
            if cache.get("version") != CACHE_VERSION:
                cache = {}
        except (OSError, ValueError):
            cache = {}
    entries = cache.get("files", {})
    faces, notes, fresh, changed = [], [], {}, False
    t0 = time.perf_counter()
    for p in files:
        st = p.stat()
        key = f"{p}|{st.st_size}|{st.st_mtime_ns}"
        got = entries.get(key)
        if got is None:
            try:
                got = _scan_file(str(p))
            except Exception as e:  # fontTools raises many kinds on a broken file
                got = {"error": f"{type(e).__name__}: {e}"}
            changed = True
        fresh[key] = got
        if isinstance(got, dict):
            notes.append(f"font {p.name}: unreadable ({got['error'][:120]})")
            continue
        faces += [Face(str(p), d["index"], d["family"], d["style"], d["weight"], d["italic"], d["fixed"], d["ranges"],
                       tuple(d["otl"])) for d in got]
    if changed:
        log(f"synth: scanned {len(files)} font files in {time.perf_counter() - t0:.1f} s")
        if cache_path:
            write_json_atomic(cache_path, {"version": CACHE_VERSION, "files": fresh}, indent=1)
    return faces, notes


def _coverage(face: Face, freq: list[tuple[str, int]], total: int, need: float) -> bool:
    for ch, _ in freq[:8]:                       # quick reject on the commonest letters
        if not face.has(ch):
            return False
    miss = 0
    budget = (1 - need) * total
    for ch, n in freq:
        if not face.has(ch):
            miss += n
            if miss > budget:
                return False
    return True


class FontBook:
    """Faces grouped per script and role (text, mono, hand), by family."""

    def __init__(self, faces: list[Face], corpus: Corpus, scripts: list[str]):
        self.faces = [f for f in faces if not f.excluded]
        # script -> role -> family -> faces
        self.table: dict[str, dict[str, dict[str, list[Face]]]] = {}
        for s in scripts:
            freq = corpus.freq(s)
            total = sum(n for _, n in freq)
            if not total:
                continue
            need = 0.97 if s == "latin" else 0.99
            tags = SHAPING_TAGS.get(s)
            for f in self.faces:
                if f.cjk and s not in CJK_SCRIPTS or tags and _RAQM and not tags.intersection(f.otl):
                    continue
                if _coverage(f, freq, total, need):
                    self.table.setdefault(s, {}).setdefault(f.role, {}).setdefault(f.family, []).append(f)
        plain = lambda f: (f.italic, abs(f.weight - 400) > 100)
        self.ascii_mono = [f for f in self.faces if f.role == "mono" and not any(plain(f))
                           and f.covers("azAZ09{}()[];:=+-*/\"'_#$.,<>")]
        self.ascii_text = sorted((f for f in self.faces if f.role == "text" and not f.cjk
                                  and f.covers("azAZ09.,:-%/()")), key=lambda f: (plain(f), f.path, f.index))

        # family weights: every font folder (a package, a foundry) shares weight 1 per script and
        # role, so a package of 130 one-style families counts like one of 2; a face made for
        # another script (it covers one or two others) counts 0.3
        home: dict[tuple[str, int], set[str]] = {}
        for s, roles in self.table.items():
            if s in ("latin", "cyrillic", "greek"):
                continue
            for fams in roles.values():
                for faces_ in fams.values():
                    for f in faces_:
                        home.setdefault((f.path, f.index), set()).add(s)
        self.weights: dict[tuple[str, str], dict[str, float]] = {}
        for s, roles in self.table.items():
            for role, fams in roles.items():
                per_dir = Counter(str(Path(v[0].path).parent) for v in fams.values())
                w = {}
                for fam, faces_ in fams.items():
                    h = home.get((faces_[0].path, faces_[0].index), set())
                    foreign = 0 < len(h) <= 2 and s not in h
                    w[fam] = (0.3 if foreign else 1.0) / per_dir[str(Path(faces_[0].path).parent)]
                self.weights[(s, role)] = w

    def families(self, script: str, role: str) -> list[str]:
        return sorted(self.table.get(script, {}).get(role, {}))

    def ordered(self, script: str, role: str, rng: random.Random) -> list[str]:
        """The families of ``script``/``role`` in a random order drawn by weight (first = a
        weighted draw; Efraimidis-Spirakis keys)."""
        w = self.weights.get((script, role), {})
        return sorted(w, key=lambda f: (math.log(1.0 - rng.random()) / w[f], f), reverse=True)

    def faces_of(self, script: str, role: str, family: str) -> list[Face]:
        return self.table[script][role][family]

    def count(self, script: str) -> dict[str, int]:
        return {r: len(v) for r, v in sorted(self.table.get(script, {}).items())}


# --------------------------------------------------------------------------- PIL font objects
_RAQM = features.check("raqm")
_FONT_CACHE: dict[tuple, ImageFont.FreeTypeFont] = {}
_WIDTH_CACHE: dict[tuple, float] = {}


def pil_font(face: Face, size: int) -> ImageFont.FreeTypeFont:
    key = (face.path, face.index, size)
    f = _FONT_CACHE.get(key)
    if f is None:
        if len(_FONT_CACHE) > 256:
            _FONT_CACHE.clear()
        engine = ImageFont.Layout.RAQM if _RAQM else ImageFont.Layout.BASIC
        f = ImageFont.truetype(face.path, size, index=face.index, layout_engine=engine)
        _FONT_CACHE[key] = f
    return f


_EXTENT_CACHE: dict[tuple, tuple[int, int]] = {}
LATIN_SAMPLE = "HÁÉkbdfhlgjpqy0"


@dataclass
class Style:
    """A face at a size: what a piece of text is drawn with.  ``asc``/``desc`` are the ink
    extents of ``sample`` (text of the page's script), not the font's declared metrics, which
    are far too tall in fonts made for another script."""
    face: Face
    size: int
    sample: str = LATIN_SAMPLE

    @property
    def font(self) -> ImageFont.FreeTypeFont:
        return pil_font(self.face, self.size)

    def _extent(self) -> tuple[int, int]:
        key = (self.face.path, self.face.index, self.size, self.sample)
        e = _EXTENT_CACHE.get(key)
        if e is None:
            if len(_EXTENT_CACHE) > 50_000:
                _EXTENT_CACHE.clear()
            sample = "".join(c for c in self.sample if self.face.has(c)) or "Hg"
            _, top, _, bottom = self.font.getbbox(sample, anchor="ls")
            e = _EXTENT_CACHE[key] = (max(-top, int(self.size * 0.6)), max(bottom, int(self.size * 0.18)))
        return e

    @property
    def asc(self) -> int:
        return self._extent()[0]

    @property
    def desc(self) -> int:
        return self._extent()[1]

    def at(self, size: int | float) -> "Style":
        return Style(self.face, max(6, int(round(size))), self.sample)
