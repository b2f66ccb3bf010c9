"""README's Python API snippet and its quick-start commands run as they stand, on the model
shipped in the package; every other command it shows names a real command and real options."""
from __future__ import annotations

import csv
import re
import shlex
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
PROGRAMS = ("datagen", "trainer", "interpret")


def _section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    assert title in text, f"README has no {title!r} section"
    return text.split(title, 1)[1].split("\n## ", 1)[0]


def _snippet() -> str:
    section = _section("### Python API")
    m = re.search(r"```python\n(.*?)```", section, re.S)
    assert m, "README's Python API section has no python block"
    return m.group(1)


def _commands(text: str) -> list[list[str]]:
    """The datagen/trainer/interpret command lines of the bash blocks in ``text``, as argv lists."""
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            argv = shlex.split(line, comments=True)
            if argv and argv[0] in PROGRAMS:
                out.append(argv)
    return out


def _need_default_model():
    from trainer.infer import DEFAULT_ONNX, DEFAULT_WINDOWS_PT

    if not (DEFAULT_WINDOWS_PT.is_file() or DEFAULT_ONNX.is_file()):
        pytest.fail("the package ships no default model (trainer/weights/): run make model && make ship")


def _group(prog: str):
    import importlib

    return importlib.import_module(f"{prog}.cli").main


def test_the_readme_python_snippet_runs(tmp_path, monkeypatch, text_page, make_pdf, capsys,
                                        close_cached_pdfium_documents):
    _need_default_model()
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


def test_the_readme_quick_start_commands_run(tmp_path, monkeypatch, text_page, make_pdf,
                                             close_cached_pdfium_documents):
    """Every command of "Use it on your documents", on a scan, a PDF, an inbox folder and a
    labelled folder made here."""
    from click.testing import CliRunner

    _need_default_model()
    monkeypatch.chdir(tmp_path)
    text_page(170, 220, seed=3).rotate(90, expand=True).save("scan.png")
    make_pdf("report", pages=2, folder=tmp_path)
    Path("inbox").mkdir()
    text_page(170, 220, seed=4).save("inbox/a.png")
    make_pdf("b", pages=2, folder=tmp_path / "inbox")
    Path("real").mkdir()
    with open("real/labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "angle", "kind"])
        for i, angle in enumerate((0, 90, 180, 270)):
            text_page(170, 220, seed=5).rotate(-angle, expand=True).save(f"real/p{i}.png")
            w.writerow([f"p{i}.png", angle, "scan" if i % 2 else "born-digital"])
    commands = _commands(_section("## Use it on your documents"))
    assert [c[1] for c in commands].count("predict") >= 3, commands
    runner = CliRunner()
    for argv in commands:
        r = runner.invoke(_group(argv[0]), argv[1:], catch_exceptions=False)
        assert r.exit_code == 0, f"{shlex.join(argv)}: exit {r.exit_code}\n{r.output}"
        if "--fix" in argv:
            out = Path(argv[argv.index("--fix") + 1])
            assert (out / "a.png").is_file() and (out / "b.pdf").is_file()
        if "--json" in argv:
            assert all(ln.startswith("{") for ln in r.output.splitlines() if ln.strip()), r.output


def test_every_readme_command_is_a_real_command_with_real_options():
    import click

    commands = _commands(README.read_text(encoding="utf-8"))
    assert len(commands) >= 10
    for argv in commands:
        group = _group(argv[0])
        with click.Context(group, info_name=argv[0]) as ctx:
            cmd = group.get_command(ctx, argv[1])
            assert cmd is not None, f"README: {shlex.join(argv)}: no command {argv[0]} {argv[1]}"
            names = {n for p in cmd.params for n in (*p.opts, *p.secondary_opts)}
        names |= {"-h", "--help"}
        for tok in argv[2:]:
            if tok.startswith("-") and tok != "-":
                assert tok.split("=", 1)[0] in names, f"README: {shlex.join(argv)}: no option {tok}"
