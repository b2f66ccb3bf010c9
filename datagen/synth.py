"""``datagen synth``: synthetic UPRIGHT document pages in many scripts, fonts and layouts.

Each page is an 8-bit grayscale PNG, dark ink on light paper (slides may use a dark theme), with
no scan degradation (the trainer adds that, and turns the pages to make labels).  The text is
real: sentences and labels from the translation catalogues on the machine
(``/usr/share/locale/*/LC_MESSAGES/*.mo``, about 190 languages), grouped by script.  The fonts
are discovered at run time (``/usr/share/fonts`` and any ``fonts_dirs``); every face is mapped to
the scripts its character map covers (fontTools), and a string is drawn with a face only if the
face maps every one of its characters, so no page carries a missing-glyph box.

Layouts (:data:`LAYOUTS`): book, article (2-5 columns), letter, form, table, receipt, slide,
note (handwriting, wobbly baselines, tilted lines), manual (headings, lists, code blocks).
Right-to-left scripts are laid out mirrored (text flush right, columns and labels from the
right) and shaped with libraqm.  Page furniture (page numbers, running heads, footers) is placed
top or bottom, left, centre or right at random, so no position is an artifact of the generator.

Determinism: page ``i`` depends only on ``(seed, i)``, the fonts found and the catalogues found;
the same inputs give the same bytes (PNG and ``synth.json``).  The font scan and the corpus are
cached under ``$DOCORIENT_CACHE`` (keyed on file size and mtime); the cache never changes output.

Output folder (written under a temporary name, then renamed)::

    DIR/synth-s<seed>-<i:05d>.png
    DIR/synth.json    generator settings, fonts and languages per script, notes (skipped
                      scripts, fallbacks), and per page: file, size, layout, script(s), language,
                      font file names, theme, seed, index
"""
from __future__ import annotations

import bisect
import hashlib
import io
import json
import math
import os
import random
import re
import struct
import sys
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable

from PIL import Image, ImageDraw, ImageFont, features

SYSTEM_FONT_DIRS = ("/usr/share/fonts",)
SYSTEM_LOCALE_DIRS = ("/usr/share/locale",)
FONT_EXTS = (".ttf", ".otf", ".ttc", ".otc")
DEFAULT_SIZE_PX = 1100
MIN_SIZE_PX, MAX_SIZE_PX = 200, 6000
CACHE_VERSION = 4
GENERATOR = "docorient datagen synth"
FORMAT_VERSION = 1


# --------------------------------------------------------------------------- scripts
@dataclass(frozen=True)
class Script:
    name: str
    rtl: bool = False
    spaced: bool = True   # words separated by spaces (else: break between characters/clusters)
    weight: float = 1.0   # relative share of pages when all scripts are drawn
    tall: float = 1.0     # extra line height for stacked marks


SCRIPTS: dict[str, Script] = {s.name: s for s in (
    Script("latin", weight=12.0), Script("cyrillic", weight=3.0), Script("greek"),
    Script("arabic", rtl=True, weight=2.0, tall=1.15), Script("hebrew", rtl=True),
    Script("thaana", rtl=True, weight=0.3),
    Script("devanagari", tall=1.15), Script("bengali", weight=0.5, tall=1.15), Script("gurmukhi", weight=0.5, tall=1.1),
    Script("gujarati", weight=0.5, tall=1.1), Script("oriya", weight=0.5, tall=1.15),
    Script("tamil", weight=0.5, tall=1.1),
    Script("telugu", weight=0.5, tall=1.2), Script("kannada", weight=0.5, tall=1.2),
    Script("malayalam", weight=0.5, tall=1.15), Script("sinhala", weight=0.5, tall=1.15),
    Script("thai", spaced=False, tall=1.2), Script("lao", spaced=False, weight=0.3, tall=1.2),
    Script("khmer", spaced=False, weight=0.5, tall=1.3), Script("myanmar", spaced=False, weight=0.5, tall=1.3),
    Script("tibetan", spaced=False, weight=0.3, tall=1.4), Script("georgian", weight=0.5),
    Script("armenian", weight=0.5),
    Script("ethiopic", weight=0.5), Script("cherokee", weight=0.3),
    Script("han", spaced=False, weight=3.0), Script("japanese", spaced=False, weight=2.0), Script("hangul", weight=1.5),
)}
# OpenType script tags a face must carry (GSUB/GPOS) to draw a script that needs shaping
SHAPING_TAGS = {"arabic": {"arab"}, "thaana": {"thaa"}, "devanagari": {"deva", "dev2"}, "bengali": {"beng", "bng2"},
                "gurmukhi": {"guru", "gur2"}, "gujarati": {"gujr", "gjr2"}, "oriya": {"orya", "ory2"},
                "tamil": {"taml", "tml2"}, "telugu": {"telu", "tel2"}, "kannada": {"knda", "knd2"},
                "malayalam": {"mlym", "mlm2"}, "sinhala": {"sinh"}, "khmer": {"khmr"}, "myanmar": {"mymr", "mym2"},
                "tibetan": {"tibt"}}
NEEDS_SHAPING = set(SHAPING_TAGS)
CJK_SCRIPTS = {"han", "japanese", "hangul", "latin"}   # the only scripts a CJK face is used for
# first word of a Unicode character name -> script of that character ("kana" only at this level)
_NAME_SCRIPT = {"LATIN": "latin", "CYRILLIC": "cyrillic", "GREEK": "greek", "ARABIC": "arabic", "HEBREW": "hebrew",
                "THAANA": "thaana", "DEVANAGARI": "devanagari", "BENGALI": "bengali", "GURMUKHI": "gurmukhi",
                "GUJARATI": "gujarati", "ORIYA": "oriya", "TAMIL": "tamil", "TELUGU": "telugu", "KANNADA": "kannada",
                "MALAYALAM": "malayalam", "SINHALA": "sinhala", "THAI": "thai", "LAO": "lao", "KHMER": "khmer",
                "MYANMAR": "myanmar", "TIBETAN": "tibetan", "GEORGIAN": "georgian", "ARMENIAN": "armenian",
                "ETHIOPIC": "ethiopic", "CHEROKEE": "cherokee", "CJK": "han", "IDEOGRAPHIC": "han", "KANGXI": "han",
                "HIRAGANA": "kana", "KATAKANA": "kana", "HANGUL": "hangul"}
# characters a font need not map: default-ignorable format characters that the shaper hides
_IGNORABLE = frozenset("\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\u00ad")
_DIGITS_AR = "٠١٢٣٤٥٦٧٨٩"
_DIGITS_FA = "۰۱۲۳۴۵۶۷۸۹"


@lru_cache(maxsize=None)
def char_script(ch: str) -> str:
    """The script of one character ('' for digits, punctuation, spaces and symbols; 'kana' for
    Japanese syllabaries; 'other' for scripts this module does not lay out)."""
    if not (ch.isalpha() or unicodedata.category(ch).startswith("M")):
        return ""
    words = unicodedata.name(ch, "").split()
    if not words:
        return "other"
    if words[0] in ("HALFWIDTH", "FULLWIDTH") and len(words) > 1:
        words = words[1:]
    if words[0] in ("COMBINING", "MODIFIER"):
        return ""
    return _NAME_SCRIPT.get(words[0], "other")


def _scripts_in(s: str) -> set[str]:
    return {c for c in map(char_script, s) if c and c != "other"}


# --------------------------------------------------------------------------- corpus: .mo catalogues
def read_mo(path: str | os.PathLike, limit: int | None = None) -> list[tuple[str, str]]:
    """``(msgid, msgstr)`` pairs of a GNU .mo catalogue (header entry dropped; plural forms and
    message contexts reduced to the first form); with ``limit``, at most that many entries spread
    evenly over the catalogue.  Raises ValueError on a file that is not one."""
    data = Path(path).read_bytes()
    if len(data) < 28:
        raise ValueError(f"{path}: too short for a .mo catalogue ({len(data)} bytes)")
    magic = struct.unpack("<I", data[:4])[0]
    if magic == 0x950412DE:
        e = "<"
    elif magic == 0xDE120495:
        e = ">"
    else:
        raise ValueError(f"{path}: not a .mo catalogue (magic {magic:#x})")
    _, n, orig, trans = struct.unpack(e + "4I", data[4:20])
    if orig + 8 * n > len(data) or trans + 8 * n > len(data):
        raise ValueError(f"{path}: truncated .mo catalogue")
    out = []
    for i in (range(n) if limit is None else _even_sample(range(n), limit)):
        ol, oo = struct.unpack_from(e + "2I", data, orig + 8 * i)
        tl, to = struct.unpack_from(e + "2I", data, trans + 8 * i)
        if ol == 0:
            continue  # the header
        try:
            mid = data[oo:oo + ol].split(b"\0")[0].split(b"\x04")[-1].decode("utf-8")
            mstr = data[to:to + tl].split(b"\0")[0].decode("utf-8")
        except UnicodeDecodeError:
            continue
        out.append((mid, mstr))
    return out


_FMT = re.compile(r"%(\([^)]*\))?(\d+\$)?[-+ #0']*(\d+|\*)?(\.(\d+|\*))?(hh|h|ll|l|L|q|j|z|t|I64|I32|I)?"
                  r"[a-zA-Z@]|%%|\{[^{}]*\}|\$\{?\w+\}?|<[^<>]*>|&[a-zA-Z]+;|&#\d+;|[\u202a-\u202e\u2066-\u2069]")
_ACCEL = re.compile(r"\s*[\(（]\s*_?[A-Za-z0-9]\s*[\)）]|_(?=\w)|&(?=\w)")
_REJECT = re.compile(r"https?:|www\.|://|\\|@\w|[|=#~^`<>{}\[\]*$]|\.\w{1,4}$|^[-.]|\b\w+_\w+\b|[A-Za-z0-9]{25,}"
                     r"|(?:^|\s)--?[A-Za-z]|\w\.(?:txt|po|mo|so|py|sh|conf|cfg|xml|html?|json|ini|log|tar|gz|deb|rpm|"
                     r"exe|dll|pdf|png|jpe?g|svg|desktop|service|d)\b|\w/\w")


_CTRL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ue000-\uf8ff\ufff0-\uffff\U000f0000-\U0010ffff]")
_EMPTY_QUOTES = re.compile(r"""(["'‘’“”«»„‚‹›「」『』]\s*){2,}|[(\[«“"'‘„「『（]\s*[.,:;]?\s*[)\]»”"'’“」』）]""")
_SPACE_PUNCT = re.compile(r"[ \t]+([.,:;!?。、，；：！？])")
_NOT_LETTER = re.compile(r"[0-9!-/:-@\[-`{-~]")
_LETTER = re.compile(r"[^\W\d_]")


def _clean(s: str) -> list[str]:
    """Catalogue string -> displayable lines (format directives, markup, mnemonics removed)."""
    s = _FMT.sub(" ", s)
    s = _ACCEL.sub("", s)
    s = _EMPTY_QUOTES.sub(" ", s)
    s = _SPACE_PUNCT.sub(r"\1", s)
    out = []
    for line in re.split(r"[\n\r\t]+", s):
        line = " ".join(line.split()).strip(" :;,-")
        if len(line) < 2 or _REJECT.search(line) or _CTRL.search(line):
            continue
        if len(_LETTER.findall(line)) < 2 or len(_NOT_LETTER.findall(line)) > 0.3 * len(line):
            continue
        out.append(line)
    return out


def _even_sample(items: list, k: int) -> list:
    """At most ``k`` items spread evenly over ``items`` (order kept, no randomness)."""
    if len(items) <= k:
        return items
    step = len(items) / k
    return [items[int(i * step)] for i in range(k)]


@dataclass
class Language:
    code: str
    script: str
    lines: list[str]     # sentences (paragraph material)
    short: list[str]     # labels, headings, list items
    chars: str = ""      # every character used, sorted
    joined: bool = False  # the catalogues held labels only: ``lines`` are runs of labels

    def __post_init__(self):
        if not self.chars:
            self.chars = "".join(sorted(set("".join(self.lines) + "".join(self.short))))


LINES_PER_LANG, SHORT_PER_LANG = 1200, 1200
PAIRS_PER_FILE = 300      # entries read from one catalogue (evenly spread): variety, not volume
MIN_LINES, MIN_SHORT = 30, 20


def _language_script(texts: list[str]) -> str | None:
    c = Counter()
    for t in texts[:3000]:
        c.update(char_script(ch) for ch in t)
    c.pop("", None)
    total = sum(c.values())
    if not total:
        return None
    han, kana = c.get("han", 0), c.get("kana", 0)
    if kana >= 0.05 * total and han + kana >= 0.4 * total:
        return "japanese"
    nonlatin = [(n, s) for s, n in c.items() if s not in ("latin", "other", "kana")]
    if nonlatin:
        n, s = max(nonlatin)
        if n >= 0.25 * total:
            return s
    return "latin" if c.get("latin", 0) >= 0.5 * total else None


def _fits_script(s: str, script: str) -> bool:
    allowed = {"han", "kana"} if script == "japanese" else {script}
    n_ok = n_latin = n = 0
    for ch in s:
        cs = char_script(ch)
        if not cs:
            continue
        n += 1
        if cs in allowed:
            n_ok += 1
        elif cs == "latin":
            n_latin += 1
        else:
            return False
    if script == "latin":
        return n > 0 and n_ok == n
    return n > 0 and n_ok >= 0.75 * n and n_ok + n_latin == n


def _locale_files(locale_dirs: Iterable[str | os.PathLike]) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    for root in locale_dirs:
        root = Path(root)
        if not root.is_dir():
            continue
        for lang_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            mos = sorted((lang_dir / "LC_MESSAGES").glob("*.mo"))
            if mos:
                out.setdefault(lang_dir.name, []).extend(mos)
    return out


def _fingerprint(paths: Iterable[Path], extra: str) -> str:
    h = hashlib.sha256(extra.encode())
    for p in paths:
        st = p.stat()
        h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


class Corpus:
    """Languages grouped by script, from .mo catalogues (msgstr: the language; msgid: English)."""

    def __init__(self, languages: dict[str, Language]):
        self.languages = languages
        self.by_script: dict[str, list[str]] = {}
        for code, lang in sorted(languages.items()):
            self.by_script.setdefault(lang.script, []).append(code)
        self._freq: dict[str, list[tuple[str, int]]] = {}

    def freq(self, script: str) -> list[tuple[str, int]]:
        """``(char, count)`` of the script's letters over its languages, most frequent first."""
        if script not in self._freq:
            allowed = {"han", "kana"} if script == "japanese" else {script}
            c: Counter = Counter()
            for code in self.by_script.get(script, ()):
                lang = self.languages[code]
                c.update("".join(lang.lines))
                c.update("".join(lang.short))
            self._freq[script] = sorted(((ch, n) for ch, n in c.items() if char_script(ch) in allowed),
                                        key=lambda t: (-t[1], t[0]))
        return self._freq[script]

    @classmethod
    def load(cls, locale_dirs: Iterable[str | os.PathLike] = SYSTEM_LOCALE_DIRS, cache_dir: Path | None = None,
             log: Callable[[str], None] = lambda s: None) -> "Corpus":
        files = _locale_files(locale_dirs)
        all_paths = [p for code in sorted(files) for p in files[code]]
        # the fingerprint covers this module's source, so a change to the cleaning rebuilds the corpus
        code = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
        fp = _fingerprint(all_paths, f"corpus {code} {LINES_PER_LANG} {SHORT_PER_LANG} {PAIRS_PER_FILE}")
        cache = cache_dir / "synth-corpus.json" if cache_dir else None
        if cache and cache.is_file():
            try:
                d = json.loads(cache.read_text(encoding="utf-8"))
                if d.get("fingerprint") == fp:
                    return cls({k: Language(k, v["script"], v["lines"], v["short"], v["chars"], v["joined"])
                                for k, v in d["languages"].items()})
            except (OSError, ValueError, KeyError, TypeError):
                pass
        t0 = time.perf_counter()
        raw: dict[str, list[str]] = {}
        english: list[str] = []
        seen_domains: set[str] = set()
        for code in sorted(files):
            texts: list[str] = []
            for p in files[code]:
                try:
                    pairs = read_mo(p, PAIRS_PER_FILE)
                except (OSError, ValueError):
                    continue
                first = p.name not in seen_domains
                seen_domains.add(p.name)
                for mid, mstr in pairs:
                    if mstr and mstr != mid:
                        texts.extend(_clean(mstr))
                    if first:
                        english.extend(_clean(mid))
            raw[code] = texts
        raw.setdefault("en", []).extend(english)
        languages = {}
        for code, texts in raw.items():
            script = _language_script(texts)
            if script is None or script not in SCRIPTS:
                continue
            dense = script in ("han", "japanese")
            spaced = SCRIPTS[script].spaced
            good = list(dict.fromkeys(t for t in texts if _fits_script(t, script)))
            keep_l = _even_sample([t for t in good if (14 if dense else 35) <= len(t) <= 300
                                   and (" " in t or not spaced)], LINES_PER_LANG)
            keep_s = _even_sample([t for t in good if len(t) <= (16 if dense else 40)], SHORT_PER_LANG)
            joined = len(keep_l) < MIN_LINES and len(keep_s) >= 60
            if joined:
                # labels only (country names, menu items): join runs of them into sentence-long lines
                sep = "" if dense else " "
                pool = keep_s[:]
                random.Random(f"docorient-synth:{code}").shuffle(pool)
                k = 0
                while k < len(pool) - 4:
                    n = 4 + k % 5
                    keep_l.append(sep.join(pool[k:k + n]))
                    k += n
            if len(keep_l) >= (12 if joined else MIN_LINES) and len(keep_s) >= MIN_SHORT:
                languages[code] = Language(code, script, keep_l, keep_s, joined=joined)
        log(f"synth: read {len(all_paths)} catalogues of {len(files)} languages in {time.perf_counter() - t0:.1f} s")
        corpus = cls(languages)
        if cache:
            _write_json_atomic(cache, {"fingerprint": fp, "languages": {
                k: {"script": v.script, "lines": v.lines, "short": v.short, "chars": v.chars, "joined": v.joined}
                for k, v in languages.items()}})
        return corpus


# --------------------------------------------------------------------------- fonts
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
            _write_json_atomic(cache_path, {"version": CACHE_VERSION, "files": fresh})
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


# --------------------------------------------------------------------------- text sources
class Text:
    """Strings of one language that one face can draw in full."""

    def __init__(self, lang: Language, face: Face, script: Script):
        self.lang, self.face, self.script = lang, face, script
        missing = {c for c in lang.chars if not face.has(c)}
        if missing:
            self.lines = [s for s in lang.lines if missing.isdisjoint(s)]
            self.short = [s for s in lang.short if missing.isdisjoint(s)]
        else:
            self.lines, self.short = lang.lines, lang.short
        self.ok = len(self.lines) >= 10 and len(self.short) >= 8

    def sentence(self, rng: random.Random) -> str:
        return rng.choice(self.lines)

    def paragraph(self, rng: random.Random, n: int) -> str:
        sep = "" if self.script.name in ("han", "japanese") else " "
        return sep.join(self.sentence(rng) for _ in range(n))

    def phrase(self, rng: random.Random, max_chars: int = 40, min_chars: int = 2) -> str:
        for _ in range(12):
            s = rng.choice(self.short)
            if min_chars <= len(s) <= max_chars:
                return s
        return rng.choice(self.short)[:max_chars].strip()


_TEXT_CACHE: dict[tuple, Text] = {}


def text_for(lang: Language, face: Face, script: Script) -> Text:
    key = (lang.code, face.path, face.index)
    t = _TEXT_CACHE.get(key)
    if t is None:
        if len(_TEXT_CACHE) > 512:
            _TEXT_CACHE.clear()
        t = _TEXT_CACHE[key] = Text(lang, face, script)
    return t


# --------------------------------------------------------------------------- line breaking
_CLOSE = set("、。，．・：；？！）」』】〕〉》”’)]}.,:;!?%")
_OPEN = set("（「『【〔〈《“‘([{")
_JOIN_NEXT = {"\u17d2", "\u1039", "\u0f84", "\u200d", "\u200c"}
_LEADING_VOWELS = set("\u0e40\u0e41\u0e42\u0e43\u0e44\u0ec0\u0ec1\u0ec2\u0ec3\u0ec4\u1031")


def clusters(s: str) -> list[str]:
    """``s`` cut where a line may break inside a word: never before a combining mark, after a
    virama/coeng or joiner, or after a Thai/Lao leading vowel."""
    out: list[str] = []
    for ch in s:
        if out and (unicodedata.category(ch).startswith("M") or out[-1][-1] in _JOIN_NEXT
                    or out[-1][-1] in _LEADING_VOWELS or ch in _IGNORABLE):
            out[-1] += ch
        else:
            out.append(ch)
    return out


_CJK_UNIT = re.compile(r"[A-Za-z0-9][A-Za-z0-9.,'+\-]*|\s+|.", re.S)


def units(s: str, script: Script) -> list[tuple[str, str]]:
    """``(piece, separator before it)`` pieces of ``s`` between which a line may break."""
    if script.spaced or script.name not in ("han", "japanese"):
        return [(w, " ") for w in s.split()]
    out: list[tuple[str, str]] = []
    sep = ""
    pending_open = ""
    for m in _CJK_UNIT.finditer(s):
        t = m.group()
        if t.isspace():
            sep = " "
            continue
        if t in _OPEN:
            pending_open += t
            continue
        if t in _CLOSE and out:
            out[-1] = (out[-1][0] + t, out[-1][1])
            continue
        out.append((pending_open + t, sep))
        pending_open, sep = "", ""
    if pending_open:
        out.append((pending_open, sep))
    return out


@dataclass
class Line:
    pieces: list[tuple[str, str]]
    width: float
    last: bool = False        # the paragraph's last line (never justified)

    @property
    def text(self) -> str:
        return "".join((sep if i else "") + p for i, (p, sep) in enumerate(self.pieces))


# --------------------------------------------------------------------------- canvas
class Canvas:
    """A page being drawn.  Coordinates are LOGICAL: x grows from the start edge, so a layout
    written for left-to-right text is mirrored as a whole on a right-to-left page."""

    def __init__(self, w: int, h: int, paper: int, ink: int, script: Script, lang: str, rtl_ok: bool):
        self.w, self.h, self.paper, self.ink = w, h, paper, ink
        self.script = script
        self.rtl = script.rtl
        self.direction = ("rtl" if self.rtl else "ltr") if _RAQM else None
        self.reverse = self.rtl and not _RAQM and rtl_ok   # no bidi engine: reverse the string
        self.language = lang.split("@")[0].split("_")[0] if _RAQM else None
        self.im = Image.new("L", (w, h), paper)
        self.d = ImageDraw.Draw(self.im)
        self.faces: set[str] = set()
        self.scripts: set[str] = set()

    # geometry -------------------------------------------------------------
    def mx(self, x0: float, x1: float) -> tuple[float, float]:
        return (self.w - x1, self.w - x0) if self.rtl else (x0, x1)

    def rect(self, x0, y0, x1, y1, fill=None, outline=None, width=1):
        a, b = self.mx(x0, x1)
        if b - a < 1 or y1 - y0 < 1:
            return
        self.d.rectangle([a, y0, b, y1], fill=fill, outline=outline, width=max(1, int(width)))

    def hline(self, x0, x1, y, fill, width=1):
        a, b = self.mx(x0, x1)
        self.d.line([(a, y), (b, y)], fill=fill, width=max(1, int(width)))

    def vline(self, x, y0, y1, fill, width=1):
        a, _ = self.mx(x, x)
        self.d.line([(a, y0), (a, y1)], fill=fill, width=max(1, int(width)))

    def poly(self, pts, fill=None, outline=None, width=1, closed=False):
        pts = [((self.w - x) if self.rtl else x, y) for x, y in pts]
        if closed:
            self.d.polygon(pts, fill=fill, outline=outline, width=max(1, int(width)))
        else:
            self.d.line(pts, fill=outline if outline is not None else fill, width=max(1, int(width)), joint="curve")

    def ellipse(self, x0, y0, x1, y1, fill=None, outline=None, width=1):
        a, b = self.mx(x0, x1)
        self.d.ellipse([a, y0, b, y1], fill=fill, outline=outline, width=max(1, int(width)))

    def pieslice(self, x0, y0, x1, y1, start, end, fill=None, outline=None):
        a, b = self.mx(x0, x1)
        self.d.pieslice([a, y0, b, y1], start, end, fill=fill, outline=outline)

    # text -----------------------------------------------------------------
    def tw(self, st: Style, s: str) -> float:
        key = (st.face.path, st.face.index, st.size, s)
        w = _WIDTH_CACHE.get(key)
        if w is None:
            if len(_WIDTH_CACHE) > 300_000:
                _WIDTH_CACHE.clear()
            w = _WIDTH_CACHE[key] = st.font.getlength(s, direction=self.direction, language=self.language)
        return w

    def text(self, x: float, y: float, s: str, st: Style, fill: int | None = None, align: str = "start",
             ltr: bool = False):
        """Draw ``s`` with its baseline at ``y``; ``x`` is the logical start (align=start),
        end (align=end) or centre (align=center).  ``ltr``: a number, drawn left to right even
        on a right-to-left page (no bidi reordering of its digit groups)."""
        if not s:
            return
        fill = self.ink if fill is None else fill
        anchor = {"start": "ls", "end": "rs", "center": "ms"}[align]
        X = x
        if self.rtl:
            X = self.w - x
            anchor = {"ls": "rs", "rs": "ls", "ms": "ms"}[anchor]
        s_draw = s[::-1] if self.reverse and not ltr else s
        self.d.text((X, y), s_draw, font=st.font, fill=fill, anchor=anchor,
                    direction="ltr" if ltr and self.direction else self.direction, language=self.language)
        self.faces.add(st.face.name)
        self.scripts.update(_scripts_in(s))

    def wrap(self, st: Style, s: str, width: float, indent: float = 0) -> list[Line]:
        sw = self.tw(st, " ")
        lines: list[Line] = []
        cur: list[tuple[str, str]] = []
        cw = 0.0
        avail = width - indent
        todo = units(s, self.script)
        i = 0
        while i < len(todo):
            p, sep = todo[i]
            w = self.tw(st, p)
            if w > width and len(p) > 1:          # a piece longer than a line: break inside it
                parts = clusters(p)
                if len(parts) > 1:
                    todo[i:i + 1] = [(parts[0], sep)] + [(c, "") for c in parts[1:]]
                    continue
            add = w + (sw if cur and sep else 0)
            if cur and cw + add > avail:
                lines.append(Line(cur, cw))
                cur, cw, avail = [], 0.0, width
                add = w
            cur.append((p, sep))
            cw += add
            i += 1
        if cur:
            lines.append(Line(cur, cw))
        if lines:
            lines[-1].last = True
        return lines

    def draw_line(self, ln: Line, x0: float, x1: float, y: float, st: Style, align: str = "start",
                  fill: int | None = None, indent: float = 0):
        x0 = x0 + indent
        justifiable = (not ln.last and len(ln.pieces) > 1 and self.script.spaced and not self.reverse
                       and not (self.rtl and any(char_script(c) == "latin" or c.isdigit() for c in ln.text)))
        if align == "justify" and justifiable:
            sw = self.tw(st, " ")
            gaps = sum(1 for i, (_, sep) in enumerate(ln.pieces) if i and sep)
            extra = (x1 - x0 - ln.width) / gaps if gaps else 0
            if 0 <= extra <= 4 * sw + st.size * 0.5:
                self._justified(ln, x0, y, st, self.ink if fill is None else fill, sw, extra)
                return
        if align in ("start", "justify"):
            self.text(x0, y, ln.text, st, fill)
        elif align == "end":
            self.text(x1, y, ln.text, st, fill, align="end")
        else:
            self.text((x0 + x1) / 2, y, ln.text, st, fill, align="center")

    def _justified(self, ln: Line, x0: float, y: float, st: Style, fill: int, sw: float, extra: float):
        """Draw a justified line: render it once at natural spacing, cut the rendering in the
        middle of each space and paste the words ``extra`` px further apart each (one render
        instead of one per word, which costs a shaping call each)."""
        text = ln.text
        anchor = "rs" if self.rtl else "ls"
        l, t, r, b = st.font.getbbox(text, anchor=anchor, direction=self.direction, language=self.language)
        if r <= l or b <= t:
            return
        m = Image.new("L", (r - l, b - t), 0)
        ImageDraw.Draw(m).text((-l, -t), text, font=st.font, fill=255, anchor=anchor, direction=self.direction,
                               language=self.language)
        cuts: list[float] = []           # logical offsets (from the start edge) of the gaps' middles
        o = 0.0
        for i, (p, sep) in enumerate(ln.pieces):
            if i and sep:
                cuts.append(o + sw / 2)
                o += sw
            o += self.tw(st, p)
        X0 = self.w - x0 if self.rtl else x0
        Y = int(round(y)) + t
        bounds: list[float | None] = [None, *cuts, None]
        for j in range(len(bounds) - 1):
            a, c = bounds[j], bounds[j + 1]
            if self.rtl:      # logical offset o sits at mask column -o - l; later words shift left
                cl = 0 if c is None else int(round(-c)) - l
                cr = m.width if a is None else int(round(-a)) - l
                dx = X0 + l + cl - j * extra
            else:
                cl = 0 if a is None else int(round(a)) - l
                cr = m.width if c is None else int(round(c)) - l
                dx = X0 + l + cl + j * extra
            cl, cr = max(0, cl), min(m.width, cr)
            if cr > cl:
                seg = m.crop((cl, 0, cr, m.height))
                dx = int(round(dx))
                self.im.paste(fill, (dx, Y, dx + seg.width, Y + seg.height), seg)
        self.faces.add(st.face.name)
        self.scripts.update(_scripts_in(text))

    def paragraph(self, s: str, x0: float, x1: float, y: float, st: Style, lead: float, align: str = "start",
                  indent: float = 0, max_y: float | None = None, fill: int | None = None) -> float:
        """Wrap and draw ``s`` from top ``y``; returns the top of the next line.  Stops (drops the
        rest) at ``max_y``."""
        max_y = self.h if max_y is None else max_y
        base = y + st.asc
        for k, ln in enumerate(self.wrap(st, s, x1 - x0, indent)):
            if base + st.desc > max_y:
                break
            self.draw_line(ln, x0, x1, base, st, align, fill, indent if k == 0 else 0)
            base += lead
        return base - st.asc

    def text_tilted(self, x: float, y: float, ln: Line, st: Style, fill: int, angle: float, wobble: float,
                    rng: random.Random, ltr: bool = False):
        """Draw one line as handwriting: word baselines wander by ``wobble`` px, the line is
        turned by ``angle`` degrees (small) about its centre.  ``y`` is the baseline.  ``ltr``:
        a number, kept in one piece and left to right on a right-to-left page."""
        if ltr:
            ln = Line([(ln.text, "")], ln.width)
        pad = int(st.size * 0.6) + 2
        wd = int(ln.width + 2 * pad + st.size)
        ht = int(st.asc + st.desc + 2 * pad + 2 * wobble)
        mask = Image.new("L", (wd, ht), 0)
        md = ImageDraw.Draw(mask)
        sw = self.tw(st, " ")
        xx = pad
        dy = 0.0
        base = pad + wobble + st.asc
        for i, (p, sep) in enumerate(ln.pieces):
            if i and sep:
                xx += sw * rng.uniform(0.8, 1.4)
            dy = max(-wobble, min(wobble, dy + rng.uniform(-0.5, 0.5) * wobble))
            pw = self.tw(st, p)
            X, anchor = (wd - xx, "rs") if self.rtl else (xx, "ls")
            md.text((X, base + dy), p[::-1] if self.reverse and not ltr else p, font=st.font, fill=255, anchor=anchor,
                    direction="ltr" if ltr and self.direction else self.direction, language=self.language)
            xx += pw
        self.faces.add(st.face.name)
        self.scripts.update(_scripts_in(ln.text))
        if abs(angle) > 0.05:
            mask = mask.rotate(angle, resample=Image.Resampling.BICUBIC, expand=False)
        a, _ = self.mx(x - pad, x - pad + wd)
        self.im.paste(fill, (int(a), int(y - base), int(a) + wd, int(y - base) + ht), mask)


# --------------------------------------------------------------------------- page plan
LAYOUTS = ("book", "article", "letter", "form", "table", "receipt", "slide", "note", "manual")
LAYOUT_WEIGHTS = {"book": 1.2, "article": 1.2, "letter": 1.0, "form": 1.0, "table": 1.0, "receipt": 0.6,
                  "slide": 0.8, "note": 0.8, "manual": 1.0}
LANDSCAPE = {"book": 0.05, "article": 0.15, "letter": 0.0, "form": 0.1, "table": 0.35, "receipt": 0.0,
             "slide": 1.0, "note": 0.15, "manual": 0.1}


class Page:
    """Everything one layout function needs: canvas, randomness, fonts and text."""

    def __init__(self, gen: "Generator", rng: random.Random, layout: str, script: Script, lang: Language,
                 w: int, h: int, theme: str = "light"):
        self.gen, self.rng, self.layout, self.script, self.lang = gen, rng, layout, script, lang
        self.theme = theme
        if theme == "dark":
            paper, ink = rng.randint(18, 70), rng.randint(215, 255)
        else:
            paper, ink = rng.randint(236, 255), rng.randint(0, 55)
        self.cv = Canvas(w, h, paper, ink, script, lang.code, True)
        self.w, self.h = w, h
        self.u = max(w, h) / 1100.0      # size unit: 1 at the default long side
        self.notes: list[str] = []
        self.hand_ok = True
        self._num_face: Face | None = None
        freq = gen.corpus.freq(script.name)
        # ink extents are measured on the script's commonest letters plus its tallest marks
        self.sample = "".join(sorted(c for c, _ in freq[:40])) + (LATIN_SAMPLE if script.name == "latin" else "")

    # ink levels
    def gray(self, k: float) -> int:
        """A level ``k`` of the way from paper to ink (0 paper, 1 ink)."""
        return int(round(self.cv.paper + (self.cv.ink - self.cv.paper) * k))

    # fonts ---------------------------------------------------------------
    def family_style(self, role: str, size: float, bold: bool = False, family: str | None = None) -> Style | None:
        """A face of ``role`` for this page's script whose strings of this language are plenty."""
        fb, s = self.gen.fonts, self.script.name
        if family is not None:
            order = [family] if family in fb.table.get(s, {}).get(role, {}) else []
        else:
            order = fb.ordered(s, role, self.rng)
        for fam in order:
            faces = [f for f in fb.faces_of(s, role, fam) if not f.italic] or fb.faces_of(s, role, fam)
            if bold:
                heavy = [f for f in faces if f.weight >= 600]
                faces = heavy or faces
                faces = sorted(faces, key=lambda f: (abs(f.weight - 700), f.path, f.index))
            else:
                faces = sorted(faces, key=lambda f: (abs(f.weight - 400), f.path, f.index))
                faces = [f for f in faces if 300 <= f.weight <= 500] or faces[:1]
            face = faces[0] if self.rng.random() < 0.75 else self.rng.choice(faces)
            if text_for(self.lang, face, self.script).ok:
                return Style(face, max(6, int(round(size))), self.sample)
        return None

    def styles(self, size: float, role: str = "text") -> tuple[Style, Style]:
        """Regular and bold styles of one family (bold = regular if the family has none)."""
        reg = self.family_style(role, size) or self.family_style("text", size) or self.family_style("mono", size)
        if reg is None:
            raise RuntimeError(f"no face draws enough {self.lang.code} text")  # the generator plans around this
        bold = self.family_style(role if role == reg.face.role else "text", size, bold=True, family=reg.face.family)
        return reg, bold or reg

    def hand(self, size: float) -> Style:
        """A handwriting face; where none covers the script, an italic text face (else upright)."""
        st = self.family_style("hand", size)
        if st is None:
            self.hand_ok = False
            st = self.italic(size) or self.styles(size)[0]
        return st

    def italic(self, size: float) -> Style | None:
        fb, s = self.gen.fonts, self.script.name
        for fam in fb.ordered(s, "text", self.rng):
            for f in fb.faces_of(s, "text", fam):
                if f.italic and f.weight <= 500 and text_for(self.lang, f, self.script).ok:
                    return Style(f, max(6, int(round(size))), self.sample)
        return None

    def mono(self, size: float) -> Style:
        return self.family_style("mono", size) or self.styles(size)[0]

    def code_style(self, size: float) -> Style | None:
        faces = self.gen.fonts.ascii_mono or self.gen.fonts.ascii_text
        return Style(self.rng.choice(faces), max(6, int(size))) if faces else None

    def T(self, st: Style) -> Text:
        return text_for(self.lang, st.face, self.script)

    def lead(self, st: Style, k: float = 1.3) -> int:
        return int(max(st.size * k * self.script.tall, (st.asc + st.desc) * 1.12))

    # numbers -------------------------------------------------------------
    def num(self, st: Style, s: str) -> tuple[str, Style]:
        """A number string for this page (native digits sometimes) and a style that draws it."""
        if self.script.name == "arabic":
            digits = _DIGITS_FA if self.lang.code in ("fa", "ur", "ps", "ckb", "sd", "ug", "az_IR") else _DIGITS_AR
            if st.face.covers(digits) and self.rng.random() < 0.5:
                s = s.translate(str.maketrans("0123456789", digits))
        if st.face.covers(s):
            return s, st
        if self._num_face is None:
            regular = [f for f in self.gen.fonts.ascii_text if not f.italic and abs(f.weight - 400) <= 100]
            self._num_face = self.rng.choice(regular or self.gen.fonts.ascii_text or [st.face])
        if self._num_face.covers(s):
            return s, Style(self._num_face, st.size, st.sample)
        return "".join(c for c in s if st.face.has(c)), st

    def draw_num(self, x, y, s, st, fill=None, align="start"):
        s, st2 = self.num(st, s)
        self.cv.text(x, y, s, st2, fill, align, ltr=True)

    def fits(self, st: Style, s: str, width: float) -> str:
        """``s`` cut (at pieces) to fit ``width``."""
        if self.cv.tw(st, s) <= width:
            return s
        lines = self.cv.wrap(st, s, width)
        return lines[0].text if lines else ""

    def phrase_fit(self, st: Style, width: float, max_chars: int = 30) -> str:
        T = self.T(st)
        for _ in range(8):
            s = T.phrase(self.rng, max_chars)
            if self.cv.tw(st, s) <= width:
                return s
        return self.fits(st, T.phrase(self.rng, max_chars), width)


# --------------------------------------------------------------------------- shared elements
def margins(pg: Page, lo: float = 0.05, hi: float = 0.12) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the text block, each margin drawn independently."""
    r = pg.rng
    s = min(pg.w, pg.h)
    return (int(s * r.uniform(lo, hi)), int(s * r.uniform(lo, hi)),
            pg.w - int(s * r.uniform(lo, hi)), pg.h - int(s * r.uniform(lo, hi)))


def furniture(pg: Page, box: tuple[int, int, int, int], st: Style, p_head=0.55, p_foot=0.4, p_num=0.8,
              number: int | None = None) -> tuple[int, int, int, int]:
    """Running head, footer and page number around ``box``; returns the box left for content.
    Positions are drawn at random: header/footer/number each top or bottom, start/centre/end."""
    r, cv = pg.rng, pg.cv
    x0, y0, x1, y1 = box
    small = st.at(st.size * r.uniform(0.75, 0.95))
    lead = pg.lead(small, 1.2)
    T = pg.T(small)
    rule = r.random() < 0.5
    slots = {"top": [], "bottom": []}
    if r.random() < p_head:
        slots["top" if r.random() < 0.8 else "bottom"].append(("text", T.phrase(r, 50)))
    if r.random() < p_foot:
        slots["bottom" if r.random() < 0.8 else "top"].append(("text", T.phrase(r, 60)))
    if r.random() < p_num:
        n = number if number is not None else r.randint(1, 480)
        fmt = r.choice(["{}", "{}", "{}", "- {} -", "— {} —", "{} / %d" % (n + r.randint(0, 30)), "[{}]"])
        slots[r.choice(["top", "bottom"])].append(("num", fmt.format(n)))
    for where, items in slots.items():
        if not items:
            continue
        aligns = ["start", "center", "end"]
        r.shuffle(aligns)
        if where == "top":
            base = y0 + small.asc
            y0 = int(y0 + lead + small.size * r.uniform(0.6, 1.6))
            rule_y = base + small.desc + small.size * 0.3
        else:
            base = y1 - small.desc
            y1 = int(y1 - lead - small.size * r.uniform(0.6, 1.6))
            rule_y = base - small.asc - small.size * 0.3
        for (kind, s), al in zip(items, aligns):
            x = {"start": x0, "center": (x0 + x1) / 2, "end": x1}[al]
            s = pg.fits(small, s, (x1 - x0) * (0.45 if len(items) > 1 else 0.9))
            if kind == "num":
                pg.draw_num(x, base, s, small, align=al)
            else:
                cv.text(x, base, s, small, align=al)
        if rule:
            cv.hline(x0, x1, rule_y, pg.gray(r.uniform(0.5, 1)), max(1, int(pg.u * r.choice([1, 1, 2]))))
    return x0, y0, x1, y1


def figure(pg: Page, x0: float, y0: float, x1: float, y1: float, st: Style | None = None):
    """A figure: gray box, drawn shapes, bar/line/pie chart, or a photo-like block."""
    r, cv = pg.rng, pg.cv
    x0, y0, x1, y1 = int(x0), int(y0), int(x1), int(y1)
    if x1 - x0 < 20 or y1 - y0 < 20:
        return
    kind = r.choice(["box", "shapes", "bars", "lines", "pie", "photo"])
    line = pg.gray(r.uniform(0.6, 1.0))
    lw = max(1, int(pg.u * r.uniform(1, 2.5)))
    if kind == "box":
        cv.rect(x0, y0, x1, y1, fill=pg.gray(r.uniform(0.15, 0.7)), outline=line if r.random() < 0.5 else None)
        if r.random() < 0.4:
            cv.poly([(x0, y0), (x1, y1)], outline=pg.gray(0.9), width=lw)
            cv.poly([(x0, y1), (x1, y0)], outline=pg.gray(0.9), width=lw)
    elif kind == "photo":
        cv.rect(x0, y0, x1, y1, fill=pg.gray(r.uniform(0.2, 0.5)))
        for _ in range(r.randint(3, 9)):
            w, h = (x1 - x0) * r.uniform(0.1, 0.5), (y1 - y0) * r.uniform(0.1, 0.5)
            cx, cy = r.uniform(x0, x1 - w), r.uniform(y0, y1 - h)
            (cv.ellipse if r.random() < 0.5 else cv.rect)(cx, cy, cx + w, cy + h, fill=pg.gray(r.uniform(0.1, 0.95)))
        cv.rect(x0, y0, x1, y1, outline=line, width=lw)
    elif kind == "shapes":
        if r.random() < 0.6:
            cv.rect(x0, y0, x1, y1, outline=line, width=lw)
        for _ in range(r.randint(2, 6)):
            w = (x1 - x0) * r.uniform(0.15, 0.4)
            h = (y1 - y0) * r.uniform(0.15, 0.4)
            cx, cy = r.uniform(x0 + 4, x1 - w - 4), r.uniform(y0 + 4, y1 - h - 4)
            fill = pg.gray(r.uniform(0.1, 0.9)) if r.random() < 0.5 else None
            k = r.randrange(3)
            if k == 0:
                cv.rect(cx, cy, cx + w, cy + h, fill=fill, outline=line, width=lw)
            elif k == 1:
                cv.ellipse(cx, cy, cx + w, cy + h, fill=fill, outline=line, width=lw)
            else:
                cv.poly([(cx, cy + h), (cx + w / 2, cy), (cx + w, cy + h)], fill=fill, outline=line, width=lw,
                        closed=True)
    else:
        pad = int(min(x1 - x0, y1 - y0) * 0.12)
        ax0, ay0, ax1, ay1 = x0 + pad, y0 + pad // 2, x1 - pad // 2, y1 - pad
        if kind == "pie":
            d = min(ax1 - ax0, ay1 - ay0)
            cx, cy = (ax0 + ax1) / 2, (ay0 + ay1) / 2
            a = r.uniform(0, 360)
            for _ in range(r.randint(2, 6)):
                b = a + r.uniform(30, 140)
                cv.pieslice(cx - d / 2, cy - d / 2, cx + d / 2, cy + d / 2, a, min(b, a + 359),
                            fill=pg.gray(r.uniform(0.15, 0.95)), outline=pg.cv.paper)
                a = b
                if a > 360 + 300:
                    break
        else:
            cv.poly([(ax0, ay0), (ax0, ay1), (ax1, ay1)], outline=line, width=lw)
            n = r.randint(4, 12)
            vals = [r.uniform(0.1, 1) for _ in range(n)]
            step = (ax1 - ax0) / n
            if kind == "bars":
                for i, v in enumerate(vals):
                    bx = ax0 + i * step + step * 0.15
                    cv.rect(bx, ay1 - v * (ay1 - ay0), bx + step * 0.7, ay1, fill=pg.gray(r.uniform(0.3, 0.9)))
            else:
                for _ in range(r.randint(1, 3)):
                    vals = [r.uniform(0.1, 1) for _ in range(n)]
                    cv.poly([(ax0 + (i + 0.5) * step, ay1 - v * (ay1 - ay0)) for i, v in enumerate(vals)],
                            outline=pg.gray(r.uniform(0.5, 1)), width=lw)
            if st is not None:
                small = st.at(max(7, st.size * 0.7))
                for i in range(0, n, max(1, n // 5)):
                    pg.draw_num(ax0 + (i + 0.5) * step, ay1 + small.asc + 2, str(r.choice([i + 1, 2000 + i, 10 * i])),
                                small, fill=pg.gray(0.8), align="center")


def caption(pg: Page, x0, x1, y, st: Style) -> float:
    small = st.at(st.size * pg.rng.uniform(0.8, 0.95))
    return pg.cv.paragraph(pg.T(small).sentence(pg.rng), x0, x1, y, small, pg.lead(small, 1.2),
                           align=pg.rng.choice(["start", "center"]), max_y=pg.h)


def bullet(pg: Page, x: float, base: float, st: Style, kind: str, fill=None):
    """A list marker drawn as a shape, centred on the x-height of the line at ``base``."""
    r = max(2.0, st.size * 0.16)
    cy = base - st.size * 0.33
    fill = pg.cv.ink if fill is None else fill
    if kind == "disc":
        pg.cv.ellipse(x - r, cy - r, x + r, cy + r, fill=fill)
    elif kind == "circle":
        pg.cv.ellipse(x - r, cy - r, x + r, cy + r, outline=fill, width=max(1, r / 3))
    elif kind == "square":
        pg.cv.rect(x - r, cy - r, x + r, cy + r, fill=fill)
    else:
        pg.cv.hline(x - 1.6 * r, x + 1.6 * r, cy, fill, max(1, r / 2))


def fmt_number(r: random.Random, kind: str | None = None) -> str:
    kind = kind or r.choice(["int", "dec", "money", "pct", "date", "big"])
    if kind == "int":
        return str(r.randint(0, 999))
    if kind == "dec":
        return f"{r.uniform(0, 100):.{r.randint(1, 3)}f}"
    if kind == "money":
        v = r.uniform(0.5, 9999)
        s = f"{v:,.2f}"
        return s if r.random() < 0.5 else s.replace(",", " ").replace(".", ",")
    if kind == "pct":
        return f"{r.uniform(0, 100):.1f} %"
    if kind == "date":
        y, m, d = r.randint(1990, 2026), r.randint(1, 12), r.randint(1, 28)
        return r.choice([f"{d:02d}.{m:02d}.{y}", f"{y}-{m:02d}-{d:02d}", f"{m}/{d}/{y}",
                         f"{d:02d}/{m:02d}/{y % 100:02d}"])
    return f"{r.randint(1000, 9999999):,}"


# --------------------------------------------------------------------------- layouts
def lay_book(pg: Page):
    r, cv = pg.rng, pg.cv
    size = r.uniform(12, 21) * pg.u
    body, bold = pg.styles(size)
    T = pg.T(body)
    x0, y0, x1, y1 = furniture(pg, margins(pg, 0.06, 0.13), body, p_head=0.7, p_foot=0.25, p_num=0.9)
    lead = pg.lead(body, r.uniform(1.15, 1.45))
    justify = r.random() < 0.75
    indent_par = r.random() < 0.7
    y = y0
    if r.random() < 0.25:   # chapter opening
        y += int((y1 - y0) * r.uniform(0.05, 0.25))
        if r.random() < 0.5:
            pg.draw_num(x0 if r.random() < 0.5 else (x0 + x1) / 2, y + bold.asc, str(r.randint(1, 30)),
                        bold.at(size * 1.8), align="start")
            y += int(size * 2.6)
        h = bold.at(size * r.uniform(1.5, 2.4))
        y = cv.paragraph(T.phrase(r, 40), x0, x1, y, h, pg.lead(h, 1.2), align=r.choice(["start", "center"])) + size
    fig_at = r.random() < 0.2 and int(r.uniform(0.2, 0.7) * (y1 - y0)) + y0
    foot = r.random() < 0.15
    if foot:
        small = body.at(size * 0.8)
        fy = y1 - 3 * pg.lead(small, 1.2)
        cv.hline(x0, x0 + (x1 - x0) * 0.3, fy - small.size * 0.5, pg.gray(0.8))
        cv.paragraph(T.sentence(r), x0, x1, fy, small, pg.lead(small, 1.2), max_y=y1)
        y1 = int(fy - small.size * 1.2)
    while y + lead < y1:
        if fig_at and y >= fig_at:
            fw = (x1 - x0) * r.uniform(0.5, 1.0)
            fx = x0 + ((x1 - x0) - fw) * r.choice([0, 0.5, 1])
            fh = (y1 - y0) * r.uniform(0.15, 0.3)
            if y + fh + 3 * lead > y1:
                fig_at = False
                continue
            figure(pg, fx, y, fx + fw, y + fh, body)
            y = caption(pg, fx, fx + fw, y + fh + size * 0.6, body) + size * 0.5
            fig_at = False
            continue
        if r.random() < 0.08:
            y += lead * 0.6
            y = cv.paragraph(T.phrase(r, 50), x0, x1, y, bold.at(size * 1.15), lead, max_y=y1) + lead * 0.3
            continue
        y = cv.paragraph(T.paragraph(r, r.randint(2, 7)), x0, x1, y, body, lead, "justify" if justify else "start",
                         indent=size * 1.8 if indent_par else 0, max_y=y1)
        if not indent_par:
            y += lead * 0.5
        if r.random() < 0.03:  # end of a chapter: the rest of the page stays empty
            break


def lay_article(pg: Page):
    r, cv = pg.rng, pg.cv
    size = r.uniform(11, 17) * pg.u
    body, bold = pg.styles(size)
    T = pg.T(body)
    x0, y0, x1, y1 = margins(pg, 0.03, 0.08)
    landscape = pg.w > pg.h
    if r.random() < 0.45:   # masthead
        mh = bold.at(size * r.uniform(3, 5.5))
        cv.hline(x0, x1, y0, pg.gray(1), max(1, 2 * pg.u))
        y = y0 + size * 0.5
        name = pg.phrase_fit(mh, x1 - x0, 24)
        cv.text((x0 + x1) / 2, y + mh.asc, name, mh, align="center")
        y += mh.asc + mh.desc + size * 0.4
        small = body.at(size * 0.85)
        cv.hline(x0, x1, y, pg.gray(1))
        pg.draw_num(x0, y + small.asc + 3, fmt_number(r, "date"), small)
        cv.text(x1, y + small.asc + 3, pg.phrase_fit(small, (x1 - x0) * 0.4), small, align="end")
        y += pg.lead(small) + 6
        cv.hline(x0, x1, y, pg.gray(1), max(1, 2 * pg.u))
        y0 = int(y + size)
    else:
        x0, y0, x1, y1 = furniture(pg, (x0, y0, x1, y1), body, p_head=0.6, p_foot=0.3, p_num=0.8)
    y = y0
    while y < y1 - 6 * size:
        ncol = r.choice([3, 3, 4, 5]) if landscape else r.choice([2, 2, 3, 3, 4])
        head = bold.at(size * r.uniform(1.8, 3.5))
        y = cv.paragraph(T.phrase(r, 60, 8), x0, x1, y, head, pg.lead(head, 1.1),
                         align=r.choice(["start", "start", "center"]), max_y=y1) + size * 0.4
        if r.random() < 0.5:
            deck = body.at(size * 1.3)
            y = cv.paragraph(T.sentence(r), x0, x1, y, deck, pg.lead(deck, 1.2), max_y=y1) + size * 0.4
        if r.random() < 0.5:
            by = bold.at(size * 0.85)
            cv.text(x0, y + by.asc, pg.phrase_fit(by, (x1 - x0) / 2), by)
            y += pg.lead(by) + size * 0.3
        story_h = (y1 - y) if r.random() < 0.65 else (y1 - y) * r.uniform(0.45, 0.65)
        gutter = size * r.uniform(1.2, 2.2)
        cw = (x1 - x0 - gutter * (ncol - 1)) / ncol
        ytop, ybot = y, y + story_h
        lead = pg.lead(body, r.uniform(1.1, 1.3))
        align = "justify" if r.random() < 0.65 else "start"
        rules = r.random() < 0.5
        fig_col = r.randrange(ncol) if r.random() < 0.35 else -1
        for c in range(ncol):
            cx0 = x0 + c * (cw + gutter)
            cx1 = cx0 + cw
            yy = ytop
            if c == fig_col:
                fh = story_h * r.uniform(0.2, 0.4)
                figure(pg, cx0, yy, cx1, yy + fh, body)
                yy = caption(pg, cx0, cx1, yy + fh + size * 0.4, body) + size * 0.6
            while yy + lead < ybot:
                if r.random() < 0.1 and yy > ytop:
                    sub = bold.at(size * 1.1)
                    yy = cv.paragraph(T.phrase(r, 40), cx0, cx1, yy + lead * 0.4, sub, lead, max_y=ybot)
                yy = cv.paragraph(T.paragraph(r, r.randint(2, 5)), cx0, cx1, yy, body, lead, align,
                                  indent=size * 1.2, max_y=ybot)
            if rules and c:
                cv.vline(cx0 - gutter / 2, ytop, ybot - lead * 0.5, pg.gray(0.7))
        y = ybot + size
        if y < y1 - 6 * size:
            cv.hline(x0, x1, y - size * 0.5, pg.gray(0.9), max(1, pg.u * 1.5))


def lay_letter(pg: Page):
    r, cv = pg.rng, pg.cv
    size = r.uniform(13, 19) * pg.u
    body, bold = pg.styles(size)
    T = pg.T(body)
    x0, y0, x1, y1 = margins(pg, 0.08, 0.14)
    lead = pg.lead(body, r.uniform(1.2, 1.5))
    small = body.at(size * 0.8)
    y = y0
    if r.random() < 0.7:   # letterhead
        al = r.choice(["start", "center", "end"])
        xa = {"start": x0, "center": (x0 + x1) / 2, "end": x1}[al]
        if r.random() < 0.4:
            lw = size * r.uniform(3, 5)
            lx = x0 if al != "end" else x1 - lw
            if al == "center":
                lx = (x0 + x1 - lw) / 2
            figure(pg, lx, y, lx + lw, y + lw * r.uniform(0.5, 1))
            y += lw + size * 0.5
        hd = bold.at(size * r.uniform(1.4, 2.3))
        cv.text(xa, y + hd.asc, pg.phrase_fit(hd, x1 - x0, 36), hd, align=al)
        y += pg.lead(hd)
        for _ in range(r.randint(1, 3)):
            cv.text(xa, y + small.asc, pg.phrase_fit(small, x1 - x0), small, align=al)
            y += pg.lead(small, 1.2)
        if r.random() < 0.6:
            cv.hline(x0, x1, y + size * 0.3, pg.gray(0.8), max(1, pg.u * r.choice([1, 2])))
        y += size * 2
    # recipient block and date
    rec_end = r.random() < 0.25
    date_start = r.random() < 0.4
    yy = y
    for k in range(r.randint(3, 5)):
        s = pg.phrase_fit(body, (x1 - x0) * 0.4, 24)
        num = str(r.randint(1, 99999))
        if k >= 1 and r.random() < 0.6 and body.face.covers(num):
            s = f"{num} {s}" if r.random() < 0.5 else f"{s} {num}"
        cv.text(x1 if rec_end else x0, yy + body.asc, s, body, align="end" if rec_end else "start")
        yy += lead
    y = yy + lead
    date = fmt_number(r, "date")
    if date_start:
        pg.draw_num(x0, y + body.asc, date, body)
    else:
        pg.draw_num(x1, (y if not rec_end else y0 + (y - y0) * 0.1) + body.asc, date, body, align="end")
    y += lead * 2
    if r.random() < 0.6:
        y = cv.paragraph(T.phrase(r, 60), x0, x1, y, bold, lead) + lead * 0.5
    cv.text(x0, y + body.asc, T.phrase(r, 30) + ("," if body.face.has(",") and not pg.script.rtl else ""), body)
    y += lead * 1.6
    justify = r.random() < 0.25
    foot_h = 3 * size if r.random() < 0.4 else 0
    sig_h = size * 6
    for _ in range(r.randint(2, 7)):
        if y > y1 - foot_h - sig_h - 3 * lead:
            break
        y = cv.paragraph(T.paragraph(r, r.randint(2, 5)), x0, x1, y, body, lead, "justify" if justify else "start",
                         max_y=y1 - foot_h - sig_h) + lead * 0.6
    y += lead * 0.5
    sig_x = x0 if r.random() < 0.7 else (x0 + x1) / 2
    cv.text(sig_x, y + body.asc, T.phrase(r, 30), body)
    y += lead * 1.2
    hand = pg.hand(size * r.uniform(1.8, 2.8))
    name = pg.phrase_fit(hand, (x1 - x0) * 0.5, 22)
    lns = cv.wrap(hand, name, (x1 - x0) * 0.6)
    if lns:
        cv.text_tilted(sig_x + size, y + hand.asc, lns[0], hand, pg.gray(r.uniform(0.75, 1.0)), r.uniform(-6, 6),
                       hand.size * 0.06, r)
    y += hand.asc + hand.desc + size * 0.3
    cv.text(sig_x, y + body.asc, pg.phrase_fit(body, (x1 - x0) * 0.5), body)
    if foot_h:
        fy = pg.h - (pg.h - y1) * 0.5 - small.desc
        cv.hline(x0, x1, fy - small.asc - size * 0.4, pg.gray(0.6))
        al = r.choice(["start", "center"])
        cv.text(x0 if al == "start" else (x0 + x1) / 2, fy, pg.phrase_fit(small, x1 - x0, 60), small, align=al)


def lay_form(pg: Page):
    r, cv = pg.rng, pg.cv
    size = r.uniform(11, 16) * pg.u
    body, bold = pg.styles(size)
    T = pg.T(body)
    hand = pg.hand(size * r.uniform(1.1, 1.5))
    x0, y0, x1, y1 = margins(pg, 0.04, 0.09)
    line = pg.gray(r.uniform(0.6, 1.0))
    lw = max(1, int(pg.u * r.choice([1, 1, 2])))
    small = body.at(size * 0.8)
    y = y0
    if r.random() < 0.5:   # form id in a corner, top or bottom
        code = f"{r.choice('ABCDEFGHKLMPRSTVWXYZ')}{r.randint(1, 999)}-{r.randint(1, 99)}"
        yy = y0 + small.asc if r.random() < 0.5 else y1 - small.desc
        pg.draw_num(r.choice([x0, x1]), yy, code, small, align=r.choice(["start", "end"]))
        if yy < (y0 + y1) / 2:
            y += pg.lead(small) + size * 0.3
        else:
            y1 = int(yy - small.asc - size)
    title = bold.at(size * r.uniform(1.5, 2.4))
    tal = r.choice(["start", "center"])
    if r.random() < 0.3:
        lw_ = size * 4
        figure(pg, x1 - lw_, y, x1, y + lw_ * 0.7)
    y = cv.paragraph(T.phrase(r, 50, 6), x0, x1 - (size * 5 if tal == "start" else 0), y, title, pg.lead(title, 1.1),
                     align=tal) + size * 0.8
    if r.random() < 0.5:
        y = cv.paragraph(T.sentence(r), x0, x1, y, small, pg.lead(small, 1.2), max_y=y1) + size * 0.8
    row_h = int(size * r.uniform(2.6, 3.6))
    label_above = r.random() < 0.5
    boxed = r.random() < 0.6
    fill_p = r.uniform(0.2, 0.8)
    hand_ink = pg.gray(r.uniform(0.7, 0.95))
    section_bar = r.random() < 0.5
    while y < y1 - 3 * row_h:
        hd = bold.at(size * 1.1)
        if section_bar:
            cv.rect(x0, y, x1, y + pg.lead(hd) + size * 0.4, fill=pg.gray(r.uniform(0.1, 0.25)))
            cv.text(x0 + size * 0.4, y + size * 0.2 + hd.asc, T.phrase(r, 50), hd)
            y += pg.lead(hd) + size * 1.0
        else:
            cv.text(x0, y + hd.asc, T.phrase(r, 50), hd)
            y += pg.lead(hd)
            cv.hline(x0, x1, y, line, lw)
            y += size * 0.8
        for _ in range(r.randint(2, 6)):
            if y > y1 - row_h:
                break
            kind = r.choices(["fields", "checks", "comb", "text"], [5, 2, 1, 1])[0]
            if kind == "fields":
                n = r.choice([1, 1, 2, 2, 3])
                gap = size * 1.2
                fw = (x1 - x0 - gap * (n - 1)) / n
                for k in range(n):
                    fx0 = x0 + k * (fw + gap)
                    label = pg.phrase_fit(small, fw * (0.95 if label_above else 0.4), 26)
                    if label_above:
                        cv.text(fx0, y + small.asc, label, small)
                        by0, bx0 = y + pg.lead(small, 1.1), fx0
                    else:
                        cv.text(fx0, y + row_h * 0.62, label, small)
                        by0, bx0 = y + row_h * 0.62 - size * 1.3, fx0 + cv.tw(small, label) + size * 0.5
                    by1 = y + row_h * 0.62 + size * 0.45
                    if boxed:
                        cv.rect(bx0, by0, fx0 + fw, by1, outline=line, width=lw)
                    else:
                        cv.hline(bx0, fx0 + fw, by1, line, lw)
                    if r.random() < fill_p and fx0 + fw - bx0 > size * 3:
                        val = (fmt_number(r, r.choice(["date", "int", "money"])) if r.random() < 0.35
                               else pg.phrase_fit(hand, fx0 + fw - bx0 - size, 24))
                        isnum = val[:1].isdigit()
                        val, hst = pg.num(hand, val) if isnum else (val, hand)
                        lns = cv.wrap(hst, val, fx0 + fw - bx0 - size)
                        if lns:
                            cv.text_tilted(bx0 + size * 0.4, by1 - size * 0.35, lns[0], hst, hand_ink,
                                           r.uniform(-2, 2), hst.size * 0.05, r, ltr=isnum)
                y += row_h
            elif kind == "checks":
                cv.text(x0, y + small.asc + size * 0.2, pg.phrase_fit(small, (x1 - x0) * 0.3, 30), small)
                xx = x0 + (x1 - x0) * 0.33
                bs = size * 0.95
                for _ in range(r.randint(2, 5)):
                    opt = pg.phrase_fit(small, (x1 - x0) * 0.18, 16)
                    need = bs + size * 0.5 + cv.tw(small, opt) + size * 1.5
                    if xx + need > x1:
                        break
                    by = y + size * 0.2
                    cv.rect(xx, by, xx + bs, by + bs, outline=line, width=lw)
                    if r.random() < 0.35:
                        ck = max(1, int(hand.size * 0.12))
                        if r.random() < 0.5:
                            for a, b in ((0.15, 0.85), (0.85, 0.15)):   # a cross
                                cv.poly([(xx + bs * a, by + bs * 0.15), (xx + bs * b, by + bs * 0.85)],
                                        outline=hand_ink, width=ck)
                        else:
                            cv.poly([(xx + bs * 0.1, by + bs * 0.5), (xx + bs * 0.4, by + bs * 0.9),
                                     (xx + bs * 1.1, by - bs * 0.2)], outline=hand_ink, width=ck)
                    cv.text(xx + bs + size * 0.5, by + bs * 0.85, opt, small)
                    xx += need
                y += int(size * 2.2)
            elif kind == "comb":
                label = pg.phrase_fit(small, (x1 - x0) * 0.3, 24)
                cv.text(x0, y + size * 1.3, label, small)
                xx = x0 + max(cv.tw(small, label) + size, (x1 - x0) * 0.33)
                cw = size * 1.5
                digits = fmt_number(r, "date").replace(".", "").replace("-", "").replace("/", "")
                filled = r.random() < fill_p
                for k, dch in enumerate(digits[:12]):
                    if xx + cw > x1:
                        break
                    cv.rect(xx, y, xx + cw, y + cw * 1.2, outline=line, width=lw)
                    if filled:
                        pg.draw_num(xx + cw / 2, y + cw * 0.95, dch, hand.at(size * 1.1), fill=hand_ink, align="center")
                    xx += cw + (size * 0.6 if k in (1, 3) else 0)
                y += int(cw * 1.2 + size * 1.2)
            else:
                y = cv.paragraph(T.sentence(r), x0, x1, y, small, pg.lead(small, 1.2), max_y=y1) + size * 0.6
        y += size * 0.8
    if y < y1 - size * 3 and r.random() < 0.7:   # signature line
        sx0 = x1 - (x1 - x0) * 0.4 if r.random() < 0.6 else x0
        cv.hline(sx0, sx0 + (x1 - x0) * 0.4, y + size * 2.2, line, lw)
        cv.text(sx0, y + size * 2.2 + small.asc + 2, pg.phrase_fit(small, (x1 - x0) * 0.4), small)
        if r.random() < fill_p:
            sig = pg.hand(size * 2)
            lns = cv.wrap(sig, pg.phrase_fit(sig, (x1 - x0) * 0.35, 18), (x1 - x0) * 0.38)
            if lns:
                cv.text_tilted(sx0 + size, y + size * 1.9, lns[0], sig, hand_ink, r.uniform(-5, 5), sig.size * 0.06, r)


def lay_table(pg: Page):
    r, cv = pg.rng, pg.cv
    size = r.uniform(11, 16) * pg.u
    body, bold = pg.styles(size)
    T = pg.T(body)
    x0, y0, x1, y1 = furniture(pg, margins(pg, 0.04, 0.1), body, p_head=0.4, p_foot=0.3, p_num=0.6)
    y = y0
    n_tables = 2 if r.random() < 0.25 else 1
    for t in range(n_tables):
        title = bold.at(size * r.uniform(1.2, 1.9))
        y = cv.paragraph(T.phrase(r, 60, 6), x0, x1, y, title, pg.lead(title, 1.1),
                         align=r.choice(["start", "center"]), max_y=y1) + size * 0.5
        if r.random() < 0.5:
            y = cv.paragraph(T.paragraph(r, r.randint(1, 2)), x0, x1, y, body, pg.lead(body), max_y=y1) + size * 0.6
        ncol = r.randint(3, 8 if pg.w > pg.h else 6)
        lead = pg.lead(body, r.uniform(1.5, 2.1))
        avail = (y1 - y) / (n_tables - t) - lead * 2
        nrow = max(2, min(r.randint(6, 32), int(avail // lead) - 1))
        first_w = (x1 - x0) * r.uniform(0.25, 0.4)
        cw = (x1 - x0 - first_w) / (ncol - 1)
        colx = [x0, x0 + first_w] + [x0 + first_w + cw * k for k in range(1, ncol)]
        colx.append(x1)
        colx = colx[:ncol + 1]
        colx[-1] = x1
        style = r.choice(["grid", "rules", "zebra"])
        line = pg.gray(r.uniform(0.5, 1.0))
        pad = size * 0.4
        hdr_fill = pg.gray(r.uniform(0.1, 0.25)) if r.random() < 0.5 else None
        kinds = [r.choice(["int", "dec", "money", "pct", "date", "big"]) for _ in range(ncol)]
        ytop = y
        if hdr_fill is not None:
            cv.rect(x0, y, x1, y + lead, fill=hdr_fill)
        for c in range(ncol):
            hs = pg.phrase_fit(bold, colx[c + 1] - colx[c] - 2 * pad, 18)
            if c == 0:
                cv.text(colx[c] + pad, y + lead * 0.5 + bold.size * 0.35, hs, bold)
            else:
                cv.text(colx[c + 1] - pad, y + lead * 0.5 + bold.size * 0.35, hs, bold, align="end")
        y += lead
        if style == "rules":
            cv.hline(x0, x1, ytop, line, max(1, 2 * pg.u))
        cv.hline(x0, x1, y, line, max(1, pg.u * (2 if style == "rules" else 1)))
        total = r.random() < 0.4
        for k in range(nrow):
            if style == "zebra" and k % 2 == 1:
                cv.rect(x0, y, x1, y + lead, fill=pg.gray(0.08))
            st = bold if (total and k == nrow - 1) else body
            for c in range(ncol):
                if c == 0:
                    cv.text(colx[0] + pad, y + lead * 0.5 + st.size * 0.35,
                            pg.phrase_fit(st, colx[1] - colx[0] - 2 * pad, 30), st)
                else:
                    s = fmt_number(r, kinds[c])
                    s = s if cv.tw(st, s) <= colx[c + 1] - colx[c] - 2 * pad else str(r.randint(0, 99))
                    pg.draw_num(colx[c + 1] - pad, y + lead * 0.5 + st.size * 0.35, s, st, align="end")
            y += lead
            if style == "grid" or (total and k == nrow - 2):
                cv.hline(x0, x1, y, line)
        if style == "rules":
            cv.hline(x0, x1, y, line, max(1, 2 * pg.u))
        if style == "grid":
            cv.rect(x0, ytop, x1, y, outline=line)
            for c in range(1, ncol):
                cv.vline(colx[c], ytop, y, line)
        y += size
        if r.random() < 0.5:
            small = body.at(size * 0.8)
            y = cv.paragraph(T.sentence(r), x0, x1, y, small, pg.lead(small, 1.2), max_y=y1) + size
        y += size


def lay_receipt(pg: Page):
    r, cv = pg.rng, pg.cv
    x0, y0, x1, y1 = margins(pg, 0.05, 0.09)
    chars = r.randint(26, 40)
    mono = pg.mono(10)
    size = (x1 - x0) / (chars * max(0.45, cv.tw(mono.at(100), "0") / 100))
    body = mono.at(size)
    bold = pg.family_style(body.face.role, size, bold=True, family=body.face.family) or body
    lead = pg.lead(body, r.uniform(1.15, 1.4))
    y = y0 + body.asc
    upper = r.random() < 0.5      # till rolls often print capitals only

    def U(st: Style, s: str) -> str:
        return s.upper() if upper and st.face.covers(s.upper()) else s

    big = bold.at(size * r.uniform(1.4, 2.0))
    cv.text((x0 + x1) / 2, y + big.asc - body.asc, U(big, pg.phrase_fit(big, (x1 - x0) * 0.8, 20)), big, align="center")
    y += pg.lead(big)
    for _ in range(r.randint(1, 3)):
        cv.text((x0 + x1) / 2, y, U(body, pg.phrase_fit(body, (x1 - x0) * 0.8, 30)), body, align="center")
        y += lead
    pg.draw_num(x0, y, fmt_number(r, "date"), body)
    pg.draw_num(x1, y, f"{r.randint(6, 22):02d}:{r.randint(0, 59):02d}", body, align="end")
    y += lead

    def sep():
        nonlocal y
        if body.face.covers("-=") and r.random() < 0.6:
            ch = r.choice("-=")
            n = max(1, int((x1 - x0) / max(1, cv.tw(body, ch))))
            cv.text(x0, y, ch * n, body)
        else:
            dash = size * 0.6
            xx = x0
            while xx < x1:
                cv.hline(xx, min(x1, xx + dash), y - size * 0.3, cv.ink)
                xx += dash * 1.8
        y += lead

    sep()
    bottom_h = lead * 8
    while y < y1 - bottom_h - lead * 4:
        name = U(body, pg.phrase_fit(body, (x1 - x0) * 0.55, 24))
        cv.text(x0, y, pg.fits(body, name, (x1 - x0) * 0.65), body)
        pg.draw_num(x1, y, f"{r.uniform(0.2, 99):.2f}", body, align="end")
        y += lead
        if r.random() < 0.2:
            pg.draw_num(x0 + size * 2, y, f"{r.randint(2, 9)} x {r.uniform(0.2, 20):.2f}", body)
            y += lead
        if r.random() < 0.03:
            break
    sep()
    for k in range(r.randint(1, 3)):
        st = bold.at(size * (1.4 if k == 0 else 1.0)) if k == 0 else body
        cv.text(x0, y, pg.fits(st, U(st, pg.phrase_fit(st, (x1 - x0) * 0.45, 16)), (x1 - x0) * 0.55), st)
        pg.draw_num(x1, y, f"{r.uniform(5, 999):.2f}", st, align="end")
        y += pg.lead(st, 1.3)
    sep()
    cv.text((x0 + x1) / 2, y, U(body, pg.phrase_fit(body, (x1 - x0) * 0.9, 30)), body, align="center")
    y += lead
    if r.random() < 0.6 and y < y1 - size * 4:
        bh = min(size * 4, y1 - y)
        xx = x0 + (x1 - x0) * 0.1
        while xx < x1 - (x1 - x0) * 0.1:
            w = r.choice([1, 1, 2, 3]) * max(1, pg.u)
            cv.rect(xx, y, xx + w, y + bh, fill=cv.ink)
            xx += w + r.choice([1, 2, 3]) * max(1, pg.u)


def lay_slide(pg: Page):
    r, cv = pg.rng, pg.cv
    size = r.uniform(20, 34) * pg.u
    body, bold = pg.styles(size)
    T = pg.T(body)
    s = min(pg.w, pg.h)
    x0, y0, x1, y1 = int(pg.w * r.uniform(0.05, 0.09)), int(s * r.uniform(0.05, 0.09)), \
        pg.w - int(pg.w * r.uniform(0.05, 0.09)), pg.h - int(s * r.uniform(0.05, 0.09))
    title = bold.at(size * r.uniform(1.4, 2.0))
    if r.random() < 0.4:   # footer band / slide number
        small = body.at(size * 0.55)
        yb = y1 - small.desc
        al = r.choice(["start", "center", "end"])
        pg.draw_num({"start": x0, "center": (x0 + x1) / 2, "end": x1}[al], yb, str(r.randint(1, 60)), small, align=al)
        other = [a for a in ("start", "center", "end") if a != al]
        a2 = r.choice(other)
        cv.text({"start": x0, "center": (x0 + x1) / 2, "end": x1}[a2], yb, pg.phrase_fit(small, (x1 - x0) * 0.3), small,
                align=a2)
        if r.random() < 0.5:
            cv.hline(x0, x1, yb - small.asc - size * 0.3, pg.gray(0.5))
        y1 = int(yb - small.asc - size * 0.8)
    if r.random() < 0.18:   # title slide
        cy = (y0 + y1) / 2 - title.size
        cv.paragraph(T.phrase(r, 50, 6), x0, x1, cy - title.size, title, pg.lead(title, 1.1), align="center", max_y=y1)
        sub = body.at(size * 0.9)
        cv.paragraph(T.phrase(r, 60), x0, x1, cy + title.size * 1.6, sub, pg.lead(sub), align="center", max_y=y1)
        return
    if r.random() < 0.4:   # title band
        bh = pg.lead(title, 1.1) + size * 1.2
        strong = r.random() < 0.4
        cv.rect(0, 0, pg.w, y0 + bh, fill=pg.gray(0.85) if strong else pg.gray(r.uniform(0.1, 0.25)))
        cv.paragraph(T.phrase(r, 50, 6), x0, x1, y0 + size * 0.4, title, pg.lead(title, 1.1), max_y=y0 + bh,
                     fill=cv.paper if strong else None)
        y = y0 + bh + size
    else:
        y = cv.paragraph(T.phrase(r, 50, 6), x0, x1, y0, title, pg.lead(title, 1.1),
                         align=r.choice(["start", "start", "center"]), max_y=y1) + size * 0.8
        if r.random() < 0.5:
            cv.hline(x0, x0 + (x1 - x0) * r.uniform(0.2, 1), y - size * 0.4, pg.gray(0.6), max(1, 2 * pg.u))
    bx1 = x1
    if r.random() < 0.35:
        fx0 = x0 + (x1 - x0) * r.uniform(0.5, 0.6)
        figure(pg, fx0, y, x1, y1 - size, body)
        bx1 = fx0 - size
    marker = r.choice(["disc", "disc", "square", "dash", "circle"])
    lead = pg.lead(body, r.uniform(1.2, 1.4))
    for k in range(r.randint(3, 7)):
        if y + lead > y1:
            break
        sub = k > 0 and r.random() < 0.25
        st = body.at(size * 0.8) if sub else body
        ind = size * (2.6 if sub else 1.2)
        bullet(pg, x0 + ind - size * 0.7, y + st.asc, st, marker if not sub else "dash")
        txt = T.phrase(r, 60) if r.random() < 0.6 else T.sentence(r)
        y = cv.paragraph(txt, x0 + ind, bx1, y, st, pg.lead(st, 1.2), max_y=y1) + lead * 0.35


def lay_note(pg: Page):
    r, cv = pg.rng, pg.cv
    size = r.uniform(22, 38) * pg.u
    hand = pg.hand(size)
    T = pg.T(hand)
    x0, y0, x1, y1 = margins(pg, 0.05, 0.1)
    lead = int(pg.lead(hand, r.uniform(1.35, 1.8)))
    paper = r.choice(["plain", "ruled", "ruled", "grid"])
    faint = pg.gray(r.uniform(0.15, 0.35))
    first_base = y0 + hand.asc + lead
    if paper == "ruled":
        yy = first_base + hand.desc * 0.3
        top = yy - lead
        while yy < pg.h:
            cv.hline(0, pg.w, yy, faint)
            yy += lead
        if r.random() < 0.6:
            mxp = x0 - size * 0.4
            cv.vline(mxp, 0, pg.h, pg.gray(r.uniform(0.3, 0.5)))
        if r.random() < 0.4:
            cv.hline(0, pg.w, top - lead * 0.5, pg.gray(0.4))
    elif paper == "grid":
        g = lead / 2
        yy = (first_base + hand.desc * 0.3) % g
        while yy < pg.h:
            cv.hline(0, pg.w, yy, faint)
            yy += g
        xx = g / 2
        while xx < pg.w:
            cv.vline(xx, 0, pg.h, faint)
            xx += g
    ink = pg.gray(r.uniform(0.7, 1.0))
    base = y0 + hand.asc
    # a date at the start or end of the top line
    date_al = r.choice(["start", "end"])
    d = fmt_number(r, "date")
    ds, dst = pg.num(hand, d)
    dl = cv.wrap(dst, ds, x1 - x0)
    if dl:
        dx = x0 if date_al == "start" else x1 - dl[0].width
        cv.text_tilted(dx, base, dl[0], dst, ink, r.uniform(-1.5, 1.5), size * 0.05, r, ltr=True)
    base += lead
    if r.random() < 0.5:  # underlined title
        t = cv.wrap(hand, T.phrase(r, 30), (x1 - x0) * 0.8)
        if t:
            tx = x0 + (x1 - x0 - t[0].width) / 2 if r.random() < 0.4 else x0
            cv.text_tilted(tx, base, t[0], hand, ink, r.uniform(-1.5, 1.5), size * 0.05, r)
            cv.poly([(tx + k * t[0].width / 6, base + hand.desc * 0.6 + r.uniform(-2, 2) * pg.u) for k in range(7)],
                    outline=ink, width=max(1, size * 0.07))
            base += lead
    listy = r.random() < 0.35
    stop = y1 if r.random() < 0.7 else y0 + (y1 - y0) * r.uniform(0.4, 0.8)
    while base + hand.desc < stop:
        s = T.phrase(r, 40) if listy or r.random() < 0.3 else T.sentence(r)
        ind = size * 1.2 if listy else 0
        rm = (x1 - x0) * r.uniform(0, 0.15)
        lines = cv.wrap(hand, s, x1 - x0 - ind - rm)
        if listy:
            bullet(pg, x0 + size * 0.4, base, hand, "dash", fill=ink)
        for ln in lines:
            if base + hand.desc > stop:
                break
            jitter = r.uniform(-0.3, 0.3) * size
            cv.text_tilted(x0 + ind + jitter, base, ln, hand, ink, r.uniform(-1.5, 1.5), size * r.uniform(0.03, 0.08),
                           r)
            if r.random() < 0.04 and len(ln.pieces) > 1:   # a crossed-out word
                k = r.randrange(len(ln.pieces))
                before = cv.tw(hand, Line(ln.pieces[:k], 0).text + (" " if k else ""))
                pw = cv.tw(hand, ln.pieces[k][0])
                yy = base - hand.size * 0.3
                cv.poly([(x0 + ind + jitter + before, yy + r.uniform(-2, 2)),
                         (x0 + ind + jitter + before + pw, yy + r.uniform(-2, 2))], outline=ink,
                        width=max(1, size * 0.08))
            base += lead
        if not listy and r.random() < 0.3:
            base += lead


_CODE_WORDS = ("value", "path", "count", "buffer", "index", "name", "size", "item", "result", "config", "data",
               "line", "file", "node", "start", "offset", "limit", "key", "page", "table", "user", "state", "text")


def code_lines(r: random.Random, n: int) -> list[str]:
    w = lambda: r.choice(_CODE_WORDS)
    kind = r.choice(["shell", "python", "c", "config"])
    out = []
    depth = 0
    for _ in range(n):
        if kind == "shell":
            out.append(r.choice([f"$ {w()} --{w()} {w()}.txt", f"$ {w()}-{w()} -{r.choice('avxnq')} {r.randint(1, 99)}",
                                 f"# {w()} {w()}", f"  {w()}: {r.randint(0, 9999)}"]))
        elif kind == "python":
            ind = "    " * depth
            c = r.randrange(5)
            if c == 0 and depth < 3:
                out.append(f"{ind}def {w()}_{w()}({w()}, {w()}=None):")
                depth += 1
            elif c == 1 and depth < 3:
                out.append(f"{ind}if {w()} > {r.randint(0, 99)}:")
                depth += 1
            elif c == 2 and depth:
                out.append(f"{ind}return {w()} + {r.randint(1, 9)}")
                depth -= 1
            else:
                out.append(f"{ind}{w()} = {w()}[{r.randint(0, 9)}]  # {w()}")
        elif kind == "c":
            ind = "  " * depth
            c = r.randrange(4)
            if c == 0 and depth < 3:
                out.append(f"{ind}for (int i = 0; i < {w()}; i++) {{")
                depth += 1
            elif c == 1 and depth:
                depth -= 1
                out.append("  " * depth + "}")
            else:
                out.append(f"{ind}{w()}->{w()} = {w()}({w()}, {r.randint(0, 255)});")
        else:
            out.append(r.choice([f"[{w()}]", f"{w()} = {r.randint(0, 999)}", f"{w()}_{w()} = \"{w()}\"", ""]))
    return out


def lay_manual(pg: Page):
    r, cv = pg.rng, pg.cv
    size = r.uniform(12, 17) * pg.u
    body, bold = pg.styles(size)
    T = pg.T(body)
    code = pg.code_style(size * r.uniform(0.85, 1.0))
    x0, y0, x1, y1 = furniture(pg, margins(pg, 0.06, 0.12), body, p_head=0.75, p_foot=0.5, p_num=0.9)
    lead = pg.lead(body, r.uniform(1.25, 1.5))
    justify = r.random() < 0.35
    y = y0
    sec = [r.randint(1, 12), r.randint(1, 9)]
    marker = r.choice(["disc", "square", "dash", "circle"])
    while y < y1 - 3 * lead:
        k = r.choices(["head", "par", "list", "code", "note"], [2, 5, 2, 2 if code else 0, 1])[0]
        if k == "head":
            sec[1] += 1
            hs = bold.at(size * r.uniform(1.15, 1.6))
            num = f"{sec[0]}.{sec[1]}"
            y += lead * 0.5
            num_s, nst = pg.num(hs, num)
            cv.text(x0, y + hs.asc, num_s, nst)
            nx = cv.tw(nst, num_s) + hs.size * 0.8
            y = cv.paragraph(T.phrase(r, 50), x0 + nx, x1, y, hs, pg.lead(hs, 1.15), max_y=y1) + lead * 0.3
        elif k == "par":
            y = cv.paragraph(T.paragraph(r, r.randint(1, 4)), x0, x1, y, body, lead,
                             "justify" if justify else "start", max_y=y1) + lead * 0.5
        elif k == "list":
            for _ in range(r.randint(2, 5)):
                if y > y1 - lead:
                    break
                bullet(pg, x0 + size * 0.8, y + body.asc, body, marker)
                y = cv.paragraph(T.phrase(r, 60) if r.random() < 0.5 else T.sentence(r), x0 + size * 1.8, x1, y,
                                 body, lead, max_y=y1) + lead * 0.15
            y += lead * 0.4
        elif k == "code":
            lines = code_lines(r, r.randint(3, 10))
            cl = pg.lead(code, 1.25)
            h = cl * len(lines) + size
            if y + h > y1:
                y = y1
                break
            style = r.choice(["fill", "border", "bar"])
            if style == "fill":
                cv.rect(x0, y, x1, y + h, fill=pg.gray(r.uniform(0.05, 0.15)))
            elif style == "border":
                cv.rect(x0, y, x1, y + h, outline=pg.gray(0.5))
            else:
                cv.rect(x0, y, x0 + max(2, size * 0.25), y + h, fill=pg.gray(0.5))
            yy = y + size * 0.5 + code.asc
            rtl = cv.rtl
            for ln in lines:   # code reads left to right on every page
                if ln:
                    cx = (x0 + size) if not rtl else (pg.w - x1 + size)
                    pg.cv.d.text((cx, yy), ln, font=code.font, fill=cv.ink, anchor="ls")
                    cv.faces.add(code.face.name)
                    cv.scripts.add("latin")
                yy += cl
            y += h + lead * 0.6
        else:
            small = body.at(size * 0.95)
            lines = cv.wrap(small, T.sentence(r), x1 - x0 - size * 2)
            h = pg.lead(small) * (len(lines) + 1) + size
            if y + h > y1:
                break
            cv.rect(x0, y, x1, y + h, outline=pg.gray(0.7), width=max(1, pg.u))
            cv.rect(x0, y, x0 + size * 0.4, y + h, fill=pg.gray(0.6))
            cv.text(x0 + size, y + size * 0.5 + small.asc, pg.phrase_fit(bold, x1 - x0 - 2 * size, 20),
                    bold.at(small.size))
            yy = y + size * 0.5 + pg.lead(small) + small.asc
            for ln in lines:
                cv.draw_line(ln, x0 + size, x1 - size, yy, small)
                yy += pg.lead(small)
            y += h + lead * 0.6


LAYOUT_FUNCS = {"book": lay_book, "article": lay_article, "letter": lay_letter, "form": lay_form, "table": lay_table,
                "receipt": lay_receipt, "slide": lay_slide, "note": lay_note, "manual": lay_manual}


# --------------------------------------------------------------------------- generator
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


def _write_json_atomic(path: Path, obj) -> None:
    from .atomic import atomic_write

    atomic_write(path, lambda t: t.write_text(json.dumps(obj, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"))


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
    from .manifest import cache_root

    gen = Generator(seed, size_px, scripts, layouts, fonts_dirs, system_fonts, locale_dirs,
                    cache_root() if cache else None, log)
    for n in gen.notes:
        if "skipped" in n:
            log(f"synth: {n}")
    from .atomic import atomic_dir

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
        _write_json_atomic(tmp / "synth.json", record)
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
