"""The window engine's escalation: an uncertain page is read again with all its windows."""
import numpy as np

from trainer.windowinfer import WindowEngine


class CountingNet:
    """Window logits from the window's first pixel: 0 -> class 0, 1 -> class 2, 2 -> no opinion."""

    def __init__(self):
        self.seen = 0

    def logits(self, w):
        self.seen += len(w)
        z = np.zeros((len(w), 4))
        z[w[:, 0, 0] == 0, 0] = 3.0
        z[w[:, 0, 0] == 1, 2] = 3.0
        return z


def _windows(codes):
    w = np.full((len(codes), 8, 8), 7, np.uint8)
    w[:, 0, 0] = codes
    return w


META = {"k": 4, "k_max": 12, "temperature": 1.0, "temperature_max": 2.0, "escalate": 0.9, "win": 8}


def test_a_confident_page_uses_k_windows_and_an_uncertain_one_all():
    net = CountingNet()
    eng = WindowEngine(net, META)
    sure = _windows([0] * 12)  # every window says 0
    torn = _windows([0, 1, 0, 1] + [1] * 8)  # the first K disagree; the rest say 180
    probs, infos = eng.answers([("windows", sure, {}), ("windows", torn, {})])
    assert infos[0]["windows"] == 4 and infos[1]["windows"] == 12
    assert probs[0].argmax() == 0 and probs[1].argmax() == 2
    assert net.seen == 4 + 4 + 8  # the confident page's other windows never reach the network
    # the escalated answer is the sum of all 12 windows under temperature_max
    z = np.array([[3.0, 0, 0, 0] if c == 0 else [0, 0, 3.0, 0] for c in [0, 1, 0, 1] + [1] * 8])
    s = (z - np.log(np.exp(z).sum(1, keepdims=True))).sum(0) / 2.0
    assert np.allclose(probs[1], np.exp(s - s.max()) / np.exp(s - s.max()).sum())


def test_a_model_without_escalation_votes_its_k_windows_only():
    net = CountingNet()
    eng = WindowEngine(net, {"k": 4, "temperature": 1.0, "win": 8})
    assert eng.prep.k == 4 and eng.escalate == 0.0
    probs, infos = eng.answers([("windows", _windows([0, 1, 0, 1]), {})])
    assert infos[0]["windows"] == 4 and net.seen == 4
    assert np.isclose(probs[0][0], probs[0][2]) and probs[0][[0, 2]].sum() > 0.99


def test_a_page_with_no_more_windows_than_k_is_not_read_twice():
    net = CountingNet()
    eng = WindowEngine(net, META)
    probs, infos = eng.answers([("windows", _windows([0, 1, 0]), {})])
    assert infos[0]["windows"] == 3 and net.seen == 3
    assert eng.prep.k == 12  # the render worker cuts k_max windows
