"""One ``trainer predict`` run over files as they come: signals, pipes, two runs at once, and the
exit status.

* **Exit status**: 0 every input done; 1 some input failed (each failure is a row, and a row of
  ``review.csv``), or the run could not start (a one-line error); 2 a usage error; 130 / 143
  stopped by SIGINT / SIGTERM.
* **Signals**: SIGINT and SIGTERM stop the render workers (killed at once), remove this run's
  temporary file, and end with one line saying what was written and what was not.  A file
  being renamed into place is finished first, so that line is exact.
* **Pipes**: rows go to stdout as files are done; a reader that goes away (``| head -1``)
  never stops files from being written.  With ``--fix`` or ``--in-place`` the run goes on to
  the end; without, printing is the whole work, so it stops there.  Either way the status is
  what it would have been (0 when nothing failed), with no "Broken pipe" message.
* **Two runs, one OUT**: the second is refused in one line while the first holds OUT (a lock
  on the folder), and every output is created exclusively (never over a file that appeared
  meanwhile, unless ``--overwrite``).  Temporary files a killed run left (ours by their name,
  their process gone) are removed at the start of the next run, and said so.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import click

from datagen.atomic import TEMP_RE, folder_lock, leftover_temps

from .predict import (SKEW_HEAD, TABLE_HEAD, Decision, FixPlan, PagePrediction, by_file, expand_files, fix_file,
                      iter_predictions, plan_fix, table_row, vote_documents, write_review)

SIGNAL_NAMES = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}


class Stopped(Exception):
    """SIGINT or SIGTERM arrived; ``signum`` says which."""

    def __init__(self, signum: int):
        super().__init__(SIGNAL_NAMES.get(signum, str(signum)))
        self.signum = signum


class Signals:
    """SIGINT and SIGTERM raise :class:`Stopped` in the main thread, once; inside
    :meth:`deferred` they wait until the block is done.  Outside the main thread (where Python
    cannot take signals) this does nothing."""

    def __init__(self):
        self.depth, self.pending, self.stopping, self.old = 0, None, False, {}

    def __enter__(self) -> "Signals":
        if threading.current_thread() is threading.main_thread():
            for s in SIGNAL_NAMES:
                self.old[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc):
        for s, h in self.old.items():
            signal.signal(s, h)

    def _handle(self, signum, frame):
        if self.stopping:  # already stopping: cleaning up, not to be cut short
            return
        if self.depth:
            self.pending = signum
            return
        self.stopping = True
        raise Stopped(signum)

    @contextmanager
    def deferred(self) -> Iterator[None]:
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
            if not self.depth and self.pending is not None and not self.stopping:
                self.stopping = True
                raise Stopped(self.pending)


class Rows:
    """The table or JSON Lines on stdout; a closed stdout ends the printing, never the run."""

    def __init__(self, as_json: bool, skew: bool = False):
        self.as_json, self.skew, self.closed = as_json, skew, False

    def _echo(self, text: str) -> None:
        if self.closed:
            return
        try:
            click.echo(text)
        except BrokenPipeError:
            self.closed = True
            try:  # what is still buffered goes nowhere, quietly, at exit
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, sys.stdout.fileno())
                os.close(null)
            except (OSError, ValueError, AttributeError):
                pass

    def head(self) -> None:
        if not self.as_json:
            self._echo("\t".join(TABLE_HEAD + (SKEW_HEAD if self.skew else ())))

    def show(self, p: PagePrediction) -> None:
        import json

        self._echo(json.dumps(p.to_json(), allow_nan=False) if self.as_json else table_row(p, self.skew))


@dataclass
class Job:
    """What the command line asked for (see ``trainer predict --help``)."""

    files: list[str]
    as_json: bool = False
    fix_dir: Path | None = None
    in_place: bool = False
    overwrite: bool = False
    min_confidence: float | None = None
    per_document: bool = False
    dpi: float | None = None
    batch_size: int = 32
    workers: int | None = None
    max_pixels: int | None = None
    deskew: bool = False  # with fix_dir or in_place: turn each page by its fine angle too (trainer.skew)
    skew: bool = False  # estimate every page's fine angle (the skew columns); implied by deskew


@dataclass
class Tally:
    """How far a run got, for its last line."""

    inputs: int = 0
    done: int = 0
    written: int = 0
    failed: int = 0
    review: list[PagePrediction] = field(default_factory=list)
    review_csv: Path | None = None


def _made_dirs(path: Path) -> list[Path]:
    """Create ``path`` and its missing parents; the ones created, deepest first."""
    made, p = [], Path(os.path.abspath(path))
    while not p.exists() and p != p.parent:
        made.append(p)
        p = p.parent
    path.mkdir(parents=True, exist_ok=True)
    return made


def _remove_leftovers(plan: FixPlan, out: Path | None, log: Callable[[str], None]) -> None:
    """Remove the temporary files a killed run left where this run writes; name those of a run
    that still goes."""
    if out is not None:
        dead, live = leftover_temps([out], recursive=True)
    else:
        names = {(t.parent, t.name) for t in plan.targets.values()}
        found = leftover_temps(sorted({d for d, _ in names}))
        dead, live = ([p for p in g if (p.parent, TEMP_RE.match(p.name)["name"]) in names] for g in found)
    for p in dead:
        p.unlink(missing_ok=True)
    if dead:
        log(f"removed {len(dead)} temporary file(s) a stopped run left behind ({dead[0]}"
            + (f" and {len(dead) - 1} more)" if len(dead) > 1 else ")"))
    if live:
        log(f"left {len(live)} temporary file(s) of a run still going ({live[0]}"
            + (f" and {len(live) - 1} more)" if len(live) > 1 else ")"))


def _own_temps_removed(plan: FixPlan | None, out: Path | None) -> bool:
    """Remove any temporary file of this process still there; True when none was left."""
    if plan is None:
        return True
    folders = [out] if out is not None else sorted({t.parent for t in plan.targets.values()})
    mine = [p for p in leftover_temps(folders, recursive=out is not None)[0]
            if TEMP_RE.match(p.name)["pid"] == str(os.getpid())]
    for p in mine:
        p.unlink(missing_ok=True)
    return not mine


def _tap(preds: Iterable[PagePrediction], show: Callable[[PagePrediction], None]) -> Iterator[PagePrediction]:
    for p in preds:
        show(p)
        yield p


def _work(job: Job, load: Callable[[], tuple], sig: Signals, rows: Rows, tally: Tally, state: dict,
          log: Callable[[str], None]) -> None:
    if job.deskew and job.fix_dir is None and not job.in_place:
        raise ValueError("--deskew applies to --fix OUT or --in-place (it turns the copies it writes)")
    eng, meta, spec, ddpi, _ = load()
    sel = expand_files(job.files)
    tally.inputs = len(sel.sources)
    mc = float(meta.get("review_threshold", 0.0)) if job.min_confidence is None else job.min_confidence
    plan = None
    with ExitStack() as stack:
        if job.fix_dir is not None:
            state["made"] = _made_dirs(job.fix_dir)
            stack.enter_context(folder_lock(job.fix_dir, "another trainer predict"))
        if job.fix_dir is not None or job.in_place:
            plan = state["plan"] = plan_fix(sel, job.fix_dir, job.in_place, job.overwrite)
            _remove_leftovers(plan, job.fix_dir, log)
        rows.head()
        preds = stack.enter_context(closing(iter_predictions(eng, sel, spec, job.dpi or ddpi, job.workers,
                                                             job.batch_size, Decision(mc), job.max_pixels,
                                                             skew=job.skew or job.deskew)))
        immediate = plan is None and not job.per_document
        for pages in by_file(_tap(preds, rows.show) if immediate else preds):
            if job.per_document:
                pages = vote_documents(pages, decision=Decision(mc))
            failure = None
            if plan is not None:
                with sig.deferred():
                    r = fix_file(pages, plan, mc, deskew=job.deskew)
                    tally.written += r.written is not None
                    tally.review += r.review + ([r.failure] if r.failure else [])
                failure = r.failure
            for p in ([] if immediate else pages) + ([failure] if failure else []):
                rows.show(p)
            tally.done += 1
            tally.failed += any(p.error for p in pages) or failure is not None
            if rows.closed and plan is None:  # nobody reads the rows, and they were the work
                break
    if job.fix_dir is not None:
        tally.review_csv = job.fix_dir / "review.csv"
        with sig.deferred():
            write_review(tally.review_csv, tally.review, mc, replace=job.overwrite)


def _summary(job: Job, tally: Tally) -> str | None:
    where = "in place" if job.in_place else f"to {job.fix_dir}"
    failed = f"{tally.failed} of {tally.inputs} input(s) failed" if tally.failed else ""
    if job.fix_dir is None and not job.in_place:
        return f"{failed} (their rows say why)" if failed else None
    review = sum(1 for p in tally.review if not p.error)
    msg = f"wrote {tally.written} upright file(s) {where}"
    if review:
        msg += f"; {review} page(s) left as they were for review"
    if failed:
        msg += f"; {failed}"
    if (review or failed) and tally.review_csv is not None:
        msg += f" (listed in {tally.review_csv})"
    return msg


def _stopped(job: Job, tally: Tally, e: Stopped, clean: bool) -> str:
    where = "in place" if job.in_place else f"to {job.fix_dir}"
    msg = f"stopped by {e}"
    if tally.inputs:
        msg += f" after {tally.done} of {tally.inputs} input(s)"
    if job.fix_dir is None and not job.in_place:
        return msg + "; nothing was written"
    msg += f": {tally.written} upright file(s) written {where}; the other {tally.inputs - tally.written} input(s) not"
    msg += " rewritten" if job.in_place else " written"
    if job.fix_dir is not None:
        msg += "; review.csv not written"
    return msg + ("; no temporary file left" if clean else "")


def run(job: Job, load: Callable[[], tuple], log: Callable[[str], None] | None = None) -> int:
    """Run ``job`` with the engine ``load()`` gives (``(engine, meta, spec, dpi, path)``);
    returns the exit status.  ValueError / RuntimeError / OSError for a run that cannot start
    (nothing written; a folder made for OUT is removed again)."""
    log = log or (lambda s: click.echo(s, err=True))
    rows, tally, state = Rows(job.as_json, job.skew or job.deskew), Tally(), {}
    try:
        with Signals() as sig:
            try:
                _work(job, load, sig, rows, tally, state, log)
            except Stopped as e:
                clean = _own_temps_removed(state.get("plan"), job.fix_dir)
                log(_stopped(job, tally, e, clean))
                return 128 + e.signum
    finally:
        for d in state.get("made", []):  # a folder made for OUT and left empty goes again
            try:
                d.rmdir()
            except OSError:
                break
    msg = _summary(job, tally)
    if msg:
        log(msg)
    return 1 if tally.failed else 0
