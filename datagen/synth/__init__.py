"""``datagen synth``: synthetic UPRIGHT document pages in many scripts, fonts and layouts.

Each page is an 8-bit grayscale PNG, dark ink on light paper (slides may use a dark theme), with
no scan degradation (the trainer adds that, and turns the pages to make labels).  The text is
real: sentences and labels from the translation catalogues on the machine
(``/usr/share/locale/*/LC_MESSAGES/*.mo``, about 190 languages), grouped by script.  The fonts
are discovered at run time (``/usr/share/fonts`` and any ``fonts_dirs``); every face is mapped to
the scripts its character map covers (fontTools), and a string is drawn with a face only if the
face maps every one of its characters, so no page carries a missing-glyph box.

Layouts (:data:`LAYOUTS`, one module each): book, article (2-5 columns), letter, form, table, receipt,
slide, note (handwriting, wobbly baselines, tilted lines), manual (headings, lists, code blocks).
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

The package, from the ground up: :mod:`.scripts` (scripts and the script of a character),
:mod:`.corpus` (.mo catalogues -> languages), :mod:`.fonts` (faces, coverage, styles),
:mod:`.text` (strings a face draws, line breaking), :mod:`.canvas` (drawing), :mod:`.page` (what a
layout draws with), :mod:`.elements` (pieces layouts share), :mod:`.layouts` and
:mod:`.generator` (the plan of each page, and the output folder).
"""
from __future__ import annotations

from .canvas import Canvas
from .corpus import (LINES_PER_LANG, MIN_LINES, MIN_SHORT, PAIRS_PER_FILE, SHORT_PER_LANG, SYSTEM_LOCALE_DIRS, Corpus,
                     Language, _clean, _language_script, read_mo)  # noqa: F401
from .elements import bullet, caption, figure, fmt_number, furniture, margins
from .fonts import _RAQM  # noqa: F401
from .fonts import (CACHE_VERSION, EXCLUDE_TOKENS, FONT_EXTS, HAND_TOKENS, LATIN_SAMPLE, MONO_TOKENS,
                    SYSTEM_FONT_DIRS, Face, FontBook, Style, pil_font, scan_fonts)
from .generator import (DEFAULT_SIZE_PX, FORMAT_VERSION, GENERATOR, LANG_WEIGHTS, MAX_SIZE_PX, MIN_SIZE_PX,
                        Generator, page_name, page_size, png_bytes, synth)
from .layouts import (LANDSCAPE, LAYOUT_FUNCS, LAYOUT_WEIGHTS, LAYOUTS, lay_article, lay_book, lay_form, lay_letter,
                      lay_manual, lay_note, lay_receipt, lay_slide, lay_table)
from .layouts.manual import code_lines
from .page import Page
from .scripts import CJK_SCRIPTS, NEEDS_SHAPING, SCRIPTS, SHAPING_TAGS, Script, char_script
from .text import Line, Text, clusters, text_for, units

__all__ = [
    "Canvas", "Corpus", "Language", "read_mo", "SYSTEM_LOCALE_DIRS", "LINES_PER_LANG", "SHORT_PER_LANG",
    "PAIRS_PER_FILE", "MIN_LINES", "MIN_SHORT", "bullet", "caption", "figure", "fmt_number", "furniture", "margins",
    "CACHE_VERSION", "EXCLUDE_TOKENS", "FONT_EXTS", "HAND_TOKENS", "LATIN_SAMPLE", "MONO_TOKENS", "SYSTEM_FONT_DIRS",
    "Face", "FontBook", "Style", "pil_font", "scan_fonts", "DEFAULT_SIZE_PX", "FORMAT_VERSION", "GENERATOR",
    "LANG_WEIGHTS", "MAX_SIZE_PX", "MIN_SIZE_PX", "Generator", "page_name", "page_size", "png_bytes", "synth",
    "LANDSCAPE", "LAYOUT_FUNCS", "LAYOUT_WEIGHTS", "LAYOUTS", "lay_article", "lay_book", "lay_form", "lay_letter",
    "lay_manual", "lay_note", "lay_receipt", "lay_slide", "lay_table", "code_lines", "Page", "CJK_SCRIPTS",
    "NEEDS_SHAPING", "SCRIPTS", "SHAPING_TAGS", "Script", "char_script", "Line", "Text", "clusters", "text_for",
    "units",
]
