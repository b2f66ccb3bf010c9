"""The real-page evaluation set: a valid eval manifest whose pages can never enter a training split."""
from __future__ import annotations

import hashlib
import json

import pytest

from datagen.manifest import builtin_manifest, load_manifest, reserved_documents
from test_datagen_fetch import write_manifest

# never these, whatever package carries them (the sources kept for independent evaluation)
RESERVED = ("texlive-lang-", "texlive-publishers-doc", "texlive-humanities-doc", "texlive-science-doc",
            "texlive-latex-recommended-doc", "texlive-games", "texlive-music", "r-doc-pdf", "python-reportlab-doc",
            "auto-multiple-choice-doc-pdf", "lilypond-doc-pdf", "why3-doc-pdf", "gri-pdf-doc", "leptonlib",
            "leptonica", "ocrmypdf", "scikit-image", "skimage")


@pytest.fixture(scope="module")
def real():
    return load_manifest(builtin_manifest("real-pages"))


def test_the_real_page_set_is_an_eval_manifest_of_real_and_born_digital_pages(real):
    from datagen.manifest import parse_pages

    assert real.purpose == "eval"
    pages = {"scan": 0, "photo": 0, "born-digital": 0}
    for d in real.documents:
        assert d.kind in pages and d.script, d.id
        n = len(parse_pages(d.pages, 10)) if d.pages else 1
        assert n <= 10, f"{d.id}: at most 10 pages from one document"
        pages[d.kind] += n
    assert pages["scan"] + pages["photo"] >= 80 and pages["born-digital"] >= 60, pages
    assert len({d.sha256 for d in real.documents}) == len(real.documents)  # no file twice


def test_no_reserved_source_and_nothing_shared_with_the_training_corpus(real):
    corpus = load_manifest(builtin_manifest("debian-docs"))
    for d in real.documents:
        origin = d.origin.lower()
        assert not any(r in origin for r in RESERVED), d.origin
    assert not {d.sha256 for d in real.documents} & {d.sha256 for d in corpus.documents}
    assert not {d.id for d in real.documents} & {d.id for d in corpus.documents}


def test_every_real_page_is_reserved_by_sha256(real):
    reserved = reserved_documents()
    for d in real.documents:
        assert reserved.get(d.sha256) == f"real-pages:{d.id}"
    corpus = load_manifest(builtin_manifest("debian-docs"))
    assert not any(d.sha256 in reserved for d in corpus.documents)  # the training corpus is not


def test_a_reserved_page_cannot_enter_a_training_split(make_pdf, datagen_cli, tmp_path, monkeypatch):
    """A file whose content is a page of an eval manifest is refused by datagen build, under any
    name, from a folder or from a manifest."""
    from datagen import manifest as mf

    pdf = make_pdf("holdout", pages=1, folder=tmp_path / "held")
    digest = hashlib.sha256(pdf.read_bytes()).hexdigest()
    fake = tmp_path / "manifests"
    write_manifest(fake / "my-eval.toml", [{"id": "held", "sha256": digest, "license": "MIT",
                                             "source": {"path": "x.pdf"}}], name="my-eval")
    text = (fake / "my-eval.toml").read_text().replace('name = "my-eval"', 'name = "my-eval"\npurpose = "eval"')
    (fake / "my-eval.toml").write_text(text)
    (fake / "debian-docs.toml").write_text((builtin_manifest("debian-docs")).read_text())
    monkeypatch.setattr(mf, "manifests_dir", lambda: fake)
    assert reserved_documents() == {digest: "my-eval:held"}
    renamed = tmp_path / "in" / "innocent-name.pdf"
    renamed.parent.mkdir()
    renamed.write_bytes(pdf.read_bytes())
    make_pdf("other", pages=1, seed=3, folder=tmp_path / "in")
    out = tmp_path / "v"
    r = datagen_cli("build", tmp_path / "in", "--out", out, "--rotation", "exact", "--size", "32", "--device", "cpu",
                    "--workers", "1", "-q")
    assert r.exit_code == 1 and "my-eval:held" in r.output and "evaluation only" in r.output
    assert not (out / "dataset.json").exists()
