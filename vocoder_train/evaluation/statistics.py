"""Statistics of an A/B evaluation: bootstrap confidence intervals and the paired signed-rank test.

Every system scores the same files, so two systems are compared file by file: the paired
differences ``b - a`` of one metric. For each system's mean and for the mean of the differences,
a percentile bootstrap interval: the files are resampled with replacement
:attr:`Bootstrap.resamples` times (numpy's ``default_rng(seed)``, so the same seed and files give
the same interval), the mean is taken of each resample, and the interval runs between the
``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of those means. The Wilcoxon
signed-rank test (``scipy.stats.wilcoxon``, two-sided, zero differences dropped) gives a p-value
for "the differences are symmetric about zero". An interval of the differences that holds 0 is
reported as :data:`NO_DIFFERENCE`: these files do not show the systems apart.

Values that are not finite (a metric that could not score a file) are left out: of a system's
mean, that file; of a difference, that pair. Pure numpy and scipy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

NO_DIFFERENCE = "no difference shown"
MIN_BOOTSTRAP_FILES = 2  # one file has no spread to resample
# below this many files a percentile bootstrap interval of the mean is markedly too narrow (it lacks
# the t-distribution's wider tails and the (n-1)/n variance correction): the reports say so
FEW_FILES = 10
# the smallest number of non-zero differences at which a two-sided exact signed-rank test can reach
# p < 0.05 (its smallest p is 2 / 2**n: 0.0625 at 5, 0.031 at 6)
MIN_SIGNED_RANK = 6
_CHUNK_ELEMENTS = 1 << 21  # resampled indices drawn at a time (16 MiB of int64)


@dataclass(frozen=True)
class Bootstrap:
    """How intervals are made: ``resamples`` bootstrap resamples from ``default_rng(seed)`` and a
    two-sided ``confidence`` level."""

    resamples: int = 2000
    seed: int = 0
    confidence: float = 0.95

    def __post_init__(self) -> None:
        if self.resamples < 100:
            raise ValueError(f"bootstrap: needs at least 100 resamples, got {self.resamples}")
        if not 0 < self.confidence < 1:
            raise ValueError(f"bootstrap: confidence must lie in (0, 1), got {self.confidence}")

    @property
    def percent(self) -> str:
        """The confidence level as the reports name it, e.g. "95%"."""
        return f"{100 * self.confidence:g}%"


def finite(values) -> np.ndarray:
    """The finite entries of ``values`` as float64."""
    x = np.asarray(values, dtype=np.float64).ravel()
    return x[np.isfinite(x)]


def bootstrap_means(values, boot: Bootstrap) -> np.ndarray:
    """``boot.resamples`` means of ``values`` (finite, non-empty) resampled with replacement."""
    x = finite(values)
    if not x.size:
        raise ValueError("bootstrap_means: no finite value to resample")
    rng = np.random.default_rng(boot.seed)
    means = np.empty(boot.resamples)
    rows = max(1, _CHUNK_ELEMENTS // x.size)
    for start in range(0, boot.resamples, rows):
        k = min(rows, boot.resamples - start)
        means[start : start + k] = x[rng.integers(0, x.size, size=(k, x.size))].mean(axis=1)
    return means


def mean_interval(values, boot: Bootstrap) -> dict:
    """``mean``, ``ci_low``, ``ci_high`` (NaN with a ``ci_note`` below :data:`MIN_BOOTSTRAP_FILES` files)
    and ``n`` of the finite ``values``."""
    x = finite(values)
    out = {"mean": float(x.mean()) if x.size else math.nan, "n": int(x.size)}
    if x.size < MIN_BOOTSTRAP_FILES:
        return {**out, "ci_low": math.nan, "ci_high": math.nan, "ci_note": f"{x.size} file(s): no interval"}
    tail = (1 - boot.confidence) / 2
    low, high = np.quantile(bootstrap_means(x, boot), [tail, 1 - tail])
    return {**out, "ci_low": float(low), "ci_high": float(high), "ci_note": ""}


def signed_rank(differences) -> tuple[float, str]:
    """(two-sided Wilcoxon signed-rank p-value, "") of the finite paired ``differences``, or
    (NaN, why there is none): every difference zero, or fewer than :data:`MIN_SIGNED_RANK` non-zero."""
    from scipy.stats import wilcoxon

    d = finite(differences)
    nonzero = int(np.count_nonzero(d))
    if d.size and not nonzero:
        return math.nan, f"all {d.size} differences are zero"
    if nonzero < MIN_SIGNED_RANK:
        return math.nan, f"{nonzero} non-zero differences, the test needs {MIN_SIGNED_RANK}"
    return float(wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue), ""


def verdict(low: float, high: float, higher_is_better: bool) -> str:
    """ "better", "worse" (the whole interval of ``b - a`` on one side of 0, in the metric's direction),
    :data:`NO_DIFFERENCE` (it holds 0) or "n/a" (no interval)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "n/a"
    if low <= 0 <= high:
        return NO_DIFFERENCE
    return "better" if (low > 0) == higher_is_better else "worse"


def paired_difference(a, b, boot: Bootstrap, higher_is_better: bool) -> dict:
    """Per-file ``b - a`` over the pairs where both are finite: ``mean``, ``std``, ``n``, ``better`` /
    ``worse`` (how many files moved which way), the bootstrap interval of the mean (``ci_low``,
    ``ci_high``, ``ci_note``), the signed-rank ``p`` (``p_note`` says why it is NaN) and the
    :func:`verdict`."""
    d = np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)
    ok = finite(d)
    sign = 1.0 if higher_is_better else -1.0
    p, p_note = signed_rank(ok)
    out = {
        **mean_interval(ok, boot),
        "std": float(ok.std()) if ok.size else math.nan,
        "better": int(np.sum(sign * ok > 0)),
        "worse": int(np.sum(sign * ok < 0)),
        "p": p,
        "p_note": p_note,
    }
    out["verdict"] = verdict(out["ci_low"], out["ci_high"], higher_is_better)
    return out
