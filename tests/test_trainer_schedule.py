"""``trainer fit``'s learning-rate schedule: torch's LinearLR warm-up then CosineAnnealingLR gives,
at every step, the rate of the closed form the project used before (a LambdaLR of it), and a
resumed run, from its own state or from the state that LambdaLR saved, goes on at the same rates."""
from __future__ import annotations

import math
import warnings

import pytest
import torch

from trainer.engine import _resume_scheduler, make_scheduler

LR = 2e-3


def reference(total_steps: int, warmup_steps: int):
    """The schedule as it was written by hand: (step + 1) / warmup over the warm-up, then half a
    cosine from 1 to 0 over the remaining steps (held at 0 past them)."""
    def f(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, t)))
    return f


def _optimizer():
    return torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))], lr=LR)


def rates(opt, sched, steps: int) -> list[float]:
    """The rate each of ``steps`` optimizer steps uses, stepping the schedule after each."""
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


CONFIGS = [(10, 2), (100, 20), (7, 0), (7, 1), (2, 1), (5, 5), (3, 3), (1, 0), (37, 3), (1000, 125)]


@pytest.mark.parametrize("total, warmup", CONFIGS)
def test_torch_schedulers_give_the_hand_written_rates(total, warmup):
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # no deprecated scheduler path on the way
        opt = _optimizer()
        got = rates(opt, make_scheduler(opt, total, warmup), total)
    want = [LR * reference(total, warmup)(s) for s in range(total)]
    assert got == pytest.approx(want, rel=1e-12, abs=1e-18)
    after = LR * reference(total, warmup)(total)   # 0 once the cosine ran its course
    assert opt.param_groups[0]["lr"] == pytest.approx(after, rel=1e-12, abs=1e-18)


@pytest.mark.parametrize("total, warmup, cut", [(40, 8, 5), (40, 8, 8), (40, 8, 23), (30, 0, 11)])
def test_a_resumed_schedule_goes_on_at_the_same_rates(total, warmup, cut):
    opt = _optimizer()
    whole = rates(opt, make_scheduler(opt, total, warmup), total)
    opt = _optimizer()
    sched = make_scheduler(opt, total, warmup)
    first = rates(opt, sched, cut)
    saved_opt, saved_sched = opt.state_dict(), sched.state_dict()
    assert saved_sched["last_epoch"] == cut
    opt2 = _optimizer()
    sched2 = make_scheduler(opt2, total, warmup)
    opt2.load_state_dict(saved_opt)
    _resume_scheduler(sched2, saved_sched, cut)
    assert first + rates(opt2, sched2, total - cut) == pytest.approx(whole, rel=1e-12, abs=1e-18)


def test_a_checkpoint_of_the_old_lambda_schedule_resumes_at_the_same_rates():
    total, warmup, cut = 40, 8, 13
    opt = _optimizer()
    old = torch.optim.lr_scheduler.LambdaLR(opt, reference(total, warmup))
    rates(opt, old, cut)
    opt2 = _optimizer()
    sched = make_scheduler(opt2, total, warmup)
    opt2.load_state_dict(opt.state_dict())
    _resume_scheduler(sched, old.state_dict(), cut)
    assert sched.last_epoch == cut
    want = [LR * reference(total, warmup)(s) for s in range(cut, total)]
    assert rates(opt2, sched, total - cut) == pytest.approx(want, rel=1e-12, abs=1e-18)
