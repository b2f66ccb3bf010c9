"""Scripts the generator lays out, and the script of one character."""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache


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
