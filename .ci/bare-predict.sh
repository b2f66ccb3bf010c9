#!/usr/bin/env bash
# The predict-only install: the bare package (no extra, so no torch) in a fresh venv runs
# `trainer predict` and `--fix` on a PNG and a PDF with the shipped model, and says which extra a
# training command needs.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="$(mktemp -d)/bare"
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q .
WORK="$(mktemp -d)"
"$VENV/bin/python" - "$WORK" <<'PY'
import sys
from PIL import Image, ImageDraw, ImageFont
work = sys.argv[1]
im = Image.new("L", (900, 1200), 245)
d = ImageDraw.Draw(im)
font = ImageFont.load_default(size=22)
for i in range(30):
    d.text((40, 40 + 36 * i), "The quick brown fox jumps over the lazy dog, page %d." % i, font=font, fill=15)
im.rotate(90, expand=True).save(f"{work}/scan.png")        # turned counter-clockwise: shows 270
im.save(f"{work}/report.pdf", resolution=100)
PY
"$VENV/bin/python" -c "import sys, trainer.api; assert 'torch' not in sys.modules"
"$VENV/bin/trainer" predict "$WORK/scan.png" "$WORK/report.pdf" --json --fix "$WORK/upright" | tee "$WORK/out.jsonl"
grep -q "\"basis\": \"windows\"" "$WORK/out.jsonl"
test -f "$WORK/upright/scan.png" && test -f "$WORK/upright/report.pdf"
if "$VENV/bin/trainer" fit "$WORK" 2> "$WORK/err.txt"; then echo "trainer fit ran without torch?"; exit 1; fi
grep -q "\[train\]" "$WORK/err.txt"
echo "bare install: trainer predict and --fix ran without torch"
