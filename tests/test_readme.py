"""README's Python API snippet runs as it stands, on the model shipped in the package."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def _snippet() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("### Python API", 1)[1]
    m = re.search(r"```python\n(.*?)```", section, re.S)
    assert m, "README's Python API section has no python block"
    return m.group(1)


def test_the_readme_python_snippet_runs(tmp_path, monkeypatch, text_page, make_pdf, capsys,
                                        close_cached_pdfium_documents):
    from trainer.infer import DEFAULT_ONNX, DEFAULT_WINDOWS_PT

    if not (DEFAULT_WINDOWS_PT.is_file() or DEFAULT_ONNX.is_file()):
        pytest.fail("the package ships no default model (trainer/weights/): run make model && make ship")
    monkeypatch.chdir(tmp_path)
    text_page(170, 220, seed=3).rotate(90, expand=True).save("scan.png")
    pdf = make_pdf("report", pages=2, folder=tmp_path)
    assert pdf.name == "report.pdf"
    exec(compile(_snippet(), str(README), "exec"), {})
    out = capsys.readouterr().out.splitlines()
    first = out[0].split()
    assert int(first[0]) in (0, 90, 180, 270) and 0.25 <= float(first[1]) <= 1 and first[2] in ("True", "False")
    assert [ln.split()[0] for ln in out[1:]] == ["1", "2"]
    assert Path("scan-upright.png").is_file()
