"""docs/cli.md is the --help of every datagen, trainer and interpret command, as they print it now."""
from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "docs" / "make_cli_reference.py"


def _generator():
    spec = importlib.util.spec_from_file_location("make_cli_reference", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_docs_cli_md_is_the_commands_help_as_it_is_now():
    """In a fresh interpreter: other tests' click contexts must not change how help renders."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, "docs/cli.md is stale: run python docs/make_cli_reference.py\n" + r.stdout + r.stderr


def test_every_command_has_its_section():
    import click

    text = _generator().render()
    for prog in ("datagen", "trainer", "interpret"):
        group = importlib.import_module(f"{prog}.cli").main
        with click.Context(group, info_name=prog) as ctx:
            names = group.list_commands(ctx)
        assert names, prog
        for name in names:
            assert f"\n### {prog} {name}\n" in text, f"{prog} {name} missing from the reference"
            assert f"Usage: {prog} {name} " in text


def test_check_fails_on_a_stale_file_and_passes_on_a_fresh_one(tmp_path, capsys):
    gen = _generator()
    out = tmp_path / "cli.md"
    assert gen.main(["--out", str(out)]) == 0
    assert gen.main(["--check", "--out", str(out)]) == 0
    out.write_text(out.read_text(encoding="utf-8").replace("--workers", "--wrokers", 1), encoding="utf-8")
    assert gen.main(["--check", "--out", str(out)]) == 1
    assert "stale" in capsys.readouterr().err
    assert gen.main(["--check", "--out", str(tmp_path / "absent.md")]) == 1


def test_defaults_computed_from_the_machine_are_written_as_words():
    text = _generator().render()
    build = text.split("\n### datagen build\n", 1)[1].split("\n### ", 1)[0]
    assert "the cores, at most 8" in build
