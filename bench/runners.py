"""How bench.peers runs a contender: as whole child processes whose wall time and peak memory a
bare launcher measures, and the Python children that load a peer's model once and loop over the
images (one JSON line per image)."""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

# The launcher: a bare interpreter (``python -S -I``, ~10 MiB) that spawns the measured commands,
# ``jobs`` at a time, and reaps each with ``os.wait4``, whose rusage is that child's own (and its
# waited-for descendants').  A child's max RSS starts at the RSS of the process that spawned it
# (Linux keeps the high-water mark across exec), so spawning from this bench's own process, which
# has imported torch, would put a floor of hundreds of MiB under every figure; the launcher's floor
# is its own ~10 MiB, measured and reported (``launcher_floor_mib``).  Times are taken in the
# launcher from spawn to reap, so its own start-up is not counted.
LAUNCHER = r"""
import json, os, sys, time
spec = json.load(open(sys.argv[1], encoding="utf-8"))
env = dict(os.environ, **spec.get("env", {}))
todo, running, res = list(range(len(spec["cmds"]))), {}, [None] * len(spec["cmds"])
t_all = time.perf_counter()
while todo or running:
    while todo and len(running) < spec["jobs"]:
        i = todo.pop(0)
        c = spec["cmds"][i]
        acts = [(os.POSIX_SPAWN_OPEN, 0, c.get("in") or "/dev/null", os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, c["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
                (os.POSIX_SPAWN_OPEN, 2, c["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)]
        t0 = time.perf_counter()
        try:
            running[os.posix_spawnp(c["argv"][0], c["argv"], env, file_actions=acts)] = (i, t0)
        except OSError as e:
            res[i] = {"rc": 127, "wall_s": 0.0, "max_rss_kib": 0, "spawn_error": str(e)}
    pid, status, ru = os.wait4(-1, os.WNOHANG)
    if pid == 0:
        now = time.perf_counter()
        for p, (i, t0) in list(running.items()):
            if spec["timeout"] and now - t0 > spec["timeout"]:
                os.kill(p, 9)
        time.sleep(0.002)
        continue
    i, t0 = running.pop(pid)
    res[i] = {"rc": os.waitstatus_to_exitcode(status), "wall_s": time.perf_counter() - t0,
              "max_rss_kib": ru.ru_maxrss}
json.dump({"wall_s": time.perf_counter() - t_all, "results": res}, open(sys.argv[2], "w", encoding="utf-8"))
"""


def run_many(cmds: list[list[str]], *, jobs: int = 1, env: dict | None = None,
             timeout: float | None = None, stdin: list[str | None] | None = None) -> dict:
    """Run ``cmds`` through the launcher, ``jobs`` at a time: {"wall_s": first spawn to last reap,
    "results": [{rc, wall_s, max_rss_mib, stdout, stderr}]}; a command over ``timeout`` s is killed
    (rc -9).  ``env`` adds to this process's environment; ``stdin``, one file per command (None:
    /dev/null), is what each reads on its standard input."""
    with tempfile.TemporaryDirectory(prefix="docorient-bench-peers-run-") as d:
        d = Path(d)
        spec = {"jobs": max(1, jobs), "timeout": timeout or 0, "env": env or {},
                "cmds": [{"argv": c, "out": str(d / f"{i}.out"), "err": str(d / f"{i}.err"),
                          "in": (stdin or [None] * len(cmds))[i]} for i, c in enumerate(cmds)]}
        (d / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
        limit = None if not timeout else timeout * (len(cmds) / max(1, jobs) + 1) + 60
        try:
            p = subprocess.run([sys.executable, "-S", "-I", "-c", LAUNCHER, str(d / "spec.json"), str(d / "res.json")],
                               capture_output=True, text=True, timeout=limit)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"the launcher itself ran past {limit:.0f} s") from None
        if p.returncode != 0 or not (d / "res.json").exists():
            raise RuntimeError(f"the launcher failed (exit {p.returncode}): {p.stderr.strip()[-400:]}")
        out = json.loads((d / "res.json").read_text(encoding="utf-8"))
        for i, r in enumerate(out["results"]):
            r["max_rss_mib"] = r.pop("max_rss_kib") / 1024
            for k, ext in (("stdout", "out"), ("stderr", "err")):
                f = d / f"{i}.{ext}"
                r[k] = f.read_text(encoding="utf-8", errors="replace") if f.exists() else ""
            if r.get("spawn_error"):
                r["stderr"] += r["spawn_error"]
        return out


def run_measured(cmd: list[str], *, env: dict | None = None, timeout: float | None = None,
                 stdin: str | None = None) -> dict:
    """One command as one measured child process: {rc, wall_s, max_rss_mib, stdout, stderr}."""
    return run_many([cmd], env=env, timeout=timeout, stdin=[stdin])["results"][0]


# The child of pp-lcnet / docorient-peer: argv = [list.json, out.jsonl]; one JSON line per image,
# then a "_meta" line.  Images are opened as trainer's load_image does (EXIF orientation applied),
# so every contender sees the same pixels.
CHILD_HEAD = r"""
import json, sys, time
t0 = time.perf_counter()
from PIL import Image, ImageOps
"""
CHILD_LOOP = r"""
load_s = time.perf_counter() - t0
files = json.load(open(sys.argv[1], encoding="utf-8"))
with open(sys.argv[2], "w", encoding="utf-8") as out:
    for f in files:
        t = time.perf_counter()
        try:
            with Image.open(f) as im:
                im.load()
                im = ImageOps.exif_transpose(im)
                rec = predict(im)
        except Exception as e:
            rec = {"angle": None, "error": (type(e).__name__ + ": " + str(e))[:200]}
        rec.update(file=f, sec=time.perf_counter() - t)
        out.write(json.dumps(rec) + "\n")
    out.write(json.dumps({"_meta": dict(meta, load_s=load_s)}) + "\n")
"""
def read_json_lines(text: str) -> tuple[list[dict], dict]:
    """A child's JSON Lines: its records, and the object of its ``_meta`` line (lines that are not
    JSON objects, a library's chatter, are passed over)."""
    recs, meta = [], {}
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            o = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "_meta" in o:
            meta = o["_meta"]
        else:
            recs.append(o)
    return recs, meta


def run_python_child(python: str, script: str, rows: list[dict], tmp: Path, timeout: float) -> dict:
    """One child interpreter running ``script`` over the rows' images."""
    lst, out = tmp / "files.json", tmp / "out.jsonl"
    lst.write_text(json.dumps([r["path"] for r in rows]), encoding="utf-8")
    out.unlink(missing_ok=True)
    m = run_measured([python, "-c", script, str(lst), str(out)], env={"PYTHONDONTWRITEBYTECODE": "1"},
                     timeout=timeout)
    recs, meta = read_json_lines(out.read_text(encoding="utf-8") if out.exists() else "")
    by_path = {r["path"]: r["file"] for r in rows}
    m["preds"] = {by_path[x["file"]]: {k: v for k, v in x.items() if k != "file"} for x in recs if x["file"] in by_path}
    m["meta"] = meta
    return m
