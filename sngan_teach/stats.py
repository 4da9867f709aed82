"""One rule for "method a is better than method b" over seeds, used by every lesson that ranks
methods (08, 10, A3, A6; lesson 00 states it) and by the experiments that make their tables.

A GAN run is one draw from a wide, skewed distribution: FIDs of one setting span orders of
magnitude when a seed collapses. So, for each comparison of a pre-stated list:

1. **Scale.** Scores whose spread grows with their size (FID, KL) are compared on the log
   scale, ``log=True``: the estimate is the ratio of geometric means. Bounded scores
   (accuracy, a share of good samples, modes out of 25) are compared as they are.
2. **Test.** Welch's t-test on the two groups of per-seed values (no equal-variance
   assumption; ``scipy.stats.ttest_ind(equal_var=False)``), two-sided, with its 95 % interval
   for the difference of means. Needs at least two finite values per group.
3. **Multiplicity.** The p-values of the whole list are adjusted by Holm's step-down method
   (:func:`holm`), which keeps the chance of any false call at most ``alpha`` = 0.05.
4. **Verdict**, the same in both directions: ``"better"`` when the adjusted p is below
   ``alpha`` and the estimate favours ``a``, ``"worse"`` when it is below ``alpha`` and favours
   ``b``, otherwise ``"not resolved"`` (never "tie": a test that does not reject says the data
   cannot tell, not that the methods are equal).

A diverged run has no score: pass ``worst=`` (for FID, the score of an untrained generator) and
it counts as that value; without ``worst`` a NaN raises ``ValueError``.

One list may mix scores (say FID on the log scale, lower better, beside class accuracy as it is,
higher better): give ``log``, ``lower_is_better`` and ``worst`` as dicts with one value per
comparison, and Holm's correction still runs over the whole list.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

ALPHA = 0.05
VERDICTS = ("better", "worse", "not resolved")


@dataclass(frozen=True)
class Comparison:
    """One comparison of ``a`` against ``b``: ``estimate`` is mean(a) - mean(b) on the
    compared scale (``ratio`` = exp of it on the log scale), ``low``/``high`` its 95 % Welch
    interval, ``p`` the two-sided Welch p-value, ``p_holm`` after Holm's adjustment over the
    list it was judged in, and ``verdict`` one of :data:`VERDICTS`."""

    name: str
    estimate: float
    low: float
    high: float
    p: float
    p_holm: float
    verdict: str
    log: bool

    @property
    def ratio(self) -> float:
        """exp(estimate): the ratio of geometric means (log scale only)."""
        if not self.log:
            raise ValueError(f"{self.name}: ratio needs a log-scale comparison")
        return math.exp(self.estimate)

    def __str__(self) -> str:
        if self.log:
            est = f"ratio {self.ratio:.2f} [{math.exp(self.low):.2f}, {math.exp(self.high):.2f}]"
        else:
            est = f"difference {self.estimate:+.3g} [{self.low:+.3g}, {self.high:+.3g}]"
        return f"{self.name}: {est}, p {self.p:.2g}, Holm p {self.p_holm:.2g} -> {self.verdict}"


def _values(name: str, values: Iterable[float], log: bool, worst: float | None) -> list[float]:
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise TypeError(f"{name} must be a sequence of numbers, got {type(values).__name__}")
    out = []
    for v in values:
        v = float(v)
        if math.isnan(v):
            if worst is None:
                raise ValueError(f"{name} holds NaN (a diverged run?): pass worst= to count it")
            v = float(worst)
        if log and not v > 0:
            raise ValueError(f"{name} must be > 0 on the log scale, got {v}")
        out.append(math.log(v) if log else v)
    if len(out) < 2:
        raise ValueError(f"{name} needs at least 2 values, got {len(out)}")
    return out


def welch(
    a: Sequence[float], b: Sequence[float], *, log: bool = False, worst: float | None = None
) -> tuple[float, float, float, float]:
    """``(mean(a) - mean(b), low, high, p)``: the difference of means (of logs with
    ``log=True``), its 95 % Welch interval and the two-sided Welch p-value."""
    from scipy import stats as st

    xa, xb = _values("a", a, log, worst), _values("b", b, log, worst)
    na, nb = len(xa), len(xb)
    ma, mb = sum(xa) / na, sum(xb) / nb
    va = sum((x - ma) ** 2 for x in xa) / (na - 1)
    vb = sum((x - mb) ** 2 for x in xb) / (nb - 1)
    diff, se2 = ma - mb, va / na + vb / nb
    if se2 == 0:
        p = 1.0 if diff == 0 else 0.0
        return diff, diff, diff, p
    df = se2**2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))
    half = float(st.t.ppf(0.975, df)) * math.sqrt(se2)
    p = float(2 * st.t.sf(abs(diff) / math.sqrt(se2), df))
    return diff, diff - half, diff + half, p


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of ``p_values`` (in their order): the k-th smallest of m
    is multiplied by ``m - k + 1``, made non-decreasing along the sorted order, capped at 1.
    Rejecting where the adjusted p < alpha keeps the family-wise error at most alpha."""
    ps = [float(p) for p in p_values]
    if any(not 0.0 <= p <= 1.0 for p in ps):
        raise ValueError(f"p_values must lie in [0, 1], got {ps}")
    m, adjusted, running = len(ps), [0.0] * len(ps), 0.0
    for k, i in enumerate(sorted(range(m), key=lambda i: ps[i])):
        running = max(running, min(1.0, (m - k) * ps[i]))
        adjusted[i] = running
    return adjusted


def _each(option: str, value, names) -> dict:
    """``value`` for every name, or the dict ``value`` itself when it has exactly ``names``."""
    if not isinstance(value, dict):
        return dict.fromkeys(names, value)
    if set(value) != set(names):
        missing, extra = sorted(set(names) - set(value)), sorted(set(value) - set(names))
        raise ValueError(f"{option} must name every comparison: missing {missing}, extra {extra}")
    return value


def compare(
    pairs: dict[str, tuple[Sequence[float], Sequence[float]]],
    *,
    log: bool | dict[str, bool],
    lower_is_better: bool | dict[str, bool],
    worst: float | None | dict[str, float | None] = None,
    alpha: float = ALPHA,
) -> dict[str, Comparison]:
    """Judge every ``name: (a_values, b_values)`` of the pre-stated list ``pairs`` by the rule
    of this module: Welch on the chosen scale, Holm over the whole list, a symmetric verdict
    ("better" means ``a`` is better than ``b``). ``log``, ``lower_is_better`` and ``worst``
    hold for the whole list, or, as dicts keyed like ``pairs``, for each comparison."""
    if not isinstance(pairs, dict) or not pairs:
        raise ValueError("pairs must be a non-empty dict of name: (a_values, b_values)")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    logs = _each("log", log, pairs)
    lower = _each("lower_is_better", lower_is_better, pairs)
    worsts = _each("worst", worst, pairs)
    tests = {
        name: welch(a, b, log=logs[name], worst=worsts[name]) for name, (a, b) in pairs.items()
    }
    adjusted = holm([t[3] for t in tests.values()])
    out = {}
    for (name, (diff, low, high, p)), p_holm in zip(tests.items(), adjusted, strict=True):
        a_better = diff < 0 if lower[name] else diff > 0
        if p_holm < alpha and diff != 0:
            verdict = "better" if a_better else "worse"
        else:
            verdict = "not resolved"
        out[name] = Comparison(name, diff, low, high, p, p_holm, verdict, logs[name])
    return out
