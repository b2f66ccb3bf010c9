"""The text of the pages: sentences and labels from the machine's .mo translation catalogues,
cleaned and grouped by language and script (cached; the cache never changes output)."""
from __future__ import annotations

import hashlib
import json
import os
import random
import re
import struct
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from ..atomic import write_json_atomic
from .scripts import SCRIPTS, char_script

SYSTEM_LOCALE_DIRS = ("/usr/share/locale",)


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
            write_json_atomic(cache, {"fingerprint": fp, "languages": {
                k: {"script": v.script, "lines": v.lines, "short": v.short, "chars": v.chars, "joined": v.joined}
                for k, v in languages.items()}}, indent=1, ensure_ascii=False)
        return corpus
