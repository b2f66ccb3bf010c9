"""The layouts: one module each, one function each, drawing a whole page on a :class:`Page`."""
from __future__ import annotations

from .article import lay_article
from .book import lay_book
from .form import lay_form
from .letter import lay_letter
from .manual import lay_manual
from .note import lay_note
from .receipt import lay_receipt
from .slide import lay_slide
from .table import lay_table

LAYOUT_FUNCS = {"book": lay_book, "article": lay_article, "letter": lay_letter, "form": lay_form, "table": lay_table,
                "receipt": lay_receipt, "slide": lay_slide, "note": lay_note, "manual": lay_manual}
LAYOUTS = tuple(LAYOUT_FUNCS)
LAYOUT_WEIGHTS = {"book": 1.2, "article": 1.2, "letter": 1.0, "form": 1.0, "table": 1.0, "receipt": 0.6,
                  "slide": 0.8, "note": 0.8, "manual": 1.0}
LANDSCAPE = {"book": 0.05, "article": 0.15, "letter": 0.0, "form": 0.1, "table": 0.35, "receipt": 0.0,
             "slide": 1.0, "note": 0.15, "manual": 0.1}
