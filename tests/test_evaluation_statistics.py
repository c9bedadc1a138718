"""The statistics of an A/B report (bootstrap intervals, the signed-rank test, verdicts), the worst-first
ordering of its files and the escaping of report.html, on known cases (numpy only, milliseconds)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vocoder_train.evaluation.statistics import (
    NO_DIFFERENCE,
    Bootstrap,
    mean_interval,
    paired_difference,
    signed_rank,
    verdict,
)


def _sample(n: int = 30, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(2.0, 0.5, n)


def test_a_constant_shift_gives_an_interval_excluding_zero_and_a_small_p():
    a = _sample()
    for higher, word in ((True, "better"), (False, "worse")):
        d = paired_difference(a, a + 0.3, Bootstrap(), higher_is_better=higher)
        assert d["ci_low"] > 0 and d["ci_high"] > 0 and d["mean"] == pytest.approx(0.3)
        assert d["p"] < 1e-4 and d["p_note"] == "" and d["verdict"] == word
        assert (d["better"], d["worse"]) == ((30, 0) if higher else (0, 30))
    # a noisy shift the other way: still shown, lower is better
    b = a - 0.3 + np.random.default_rng(2).normal(0, 0.05, a.size)
    d = paired_difference(a, b, Bootstrap(), higher_is_better=False)
    assert d["ci_high"] < 0 and d["p"] < 1e-4 and d["verdict"] == "better"


def test_identical_systems_show_no_difference_with_the_reason_for_no_p():
    a = _sample()
    d = paired_difference(a, a.copy(), Bootstrap(), higher_is_better=True)
    assert d["ci_low"] == d["ci_high"] == 0 and d["verdict"] == NO_DIFFERENCE
    assert math.isnan(d["p"]) and d["p_note"] == "all 30 differences are zero"
    # noise around zero: an interval that spans zero and a large p
    b = a + np.random.default_rng(3).normal(0, 0.1, a.size) * np.where(np.arange(a.size) % 2, 1, -1)
    d = paired_difference(a, b - (b - a).mean(), Bootstrap(), higher_is_better=True)
    assert d["ci_low"] < 0 < d["ci_high"] and d["verdict"] == NO_DIFFERENCE and d["p"] > 0.3


def test_the_bootstrap_interval_of_a_known_sample_covers_its_mean_and_narrows_with_n():
    boot = Bootstrap(resamples=2000, seed=0)
    widths = []
    for n in (10, 100, 1000):
        x = _sample(n, seed=n)
        m = mean_interval(x, boot)
        assert m["ci_low"] < x.mean() < m["ci_high"] and m["n"] == n and m["mean"] == pytest.approx(x.mean())
        # the normal-theory interval of the mean, for scale: the bootstrap's is close to it
        half = 1.96 * x.std(ddof=1) / math.sqrt(n)
        assert (m["ci_high"] - m["ci_low"]) / (2 * half) == pytest.approx(1.0, abs=0.25)
        widths.append(m["ci_high"] - m["ci_low"])
    assert widths[0] > widths[1] > widths[2]


def test_the_seed_makes_intervals_reproducible_and_nan_values_are_left_out():
    x = _sample(25)
    assert mean_interval(x, Bootstrap(seed=7)) == mean_interval(x, Bootstrap(seed=7))
    assert mean_interval(x, Bootstrap(seed=7))["ci_low"] != mean_interval(x, Bootstrap(seed=8))["ci_low"]
    with_nan = np.concatenate([x, [np.nan, np.inf]])
    assert mean_interval(with_nan, Bootstrap()) == mean_interval(x, Bootstrap())
    # a pair with a NaN on either side is dropped from the differences
    a, b = np.array([1.0, np.nan, 3.0]), np.array([2.0, 5.0, np.nan])
    assert paired_difference(a, b, Bootstrap(), True)["n"] == 1


def test_too_few_files_say_na_with_the_reason():
    one = mean_interval([3.0], Bootstrap())
    assert one["mean"] == 3.0 and math.isnan(one["ci_low"]) and "no interval" in one["ci_note"]
    d = paired_difference([1.0], [2.0], Bootstrap(), True)
    assert d["verdict"] == "n/a" and math.isnan(d["p"])
    p, note = signed_rank([0.1, -0.2, 0.3, 0.0, 0.5])
    assert math.isnan(p) and note == "4 non-zero differences, the test needs 6"
    p, note = signed_rank([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    assert p == pytest.approx(2 / 2**6) and note == ""  # the exact test's smallest p at n = 6
    assert math.isnan(mean_interval([], Bootstrap())["mean"])


def test_verdict_and_bootstrap_settings():
    assert verdict(0.1, 0.5, True) == "better" and verdict(0.1, 0.5, False) == "worse"
    assert verdict(-0.5, -0.1, False) == "better" and verdict(-0.5, 0.0, True) == NO_DIFFERENCE
    assert verdict(math.nan, math.nan, True) == "n/a"
    assert Bootstrap().resamples == 2000 and Bootstrap().seed == 0 and Bootstrap().percent == "95%"
    with pytest.raises(ValueError, match="at least 100"):
        Bootstrap(resamples=10)


def test_worst_first_respects_the_metric_direction_and_keeps_only_the_worst():
    from vocoder_train.evaluation.media import WorstFiles, worst_first

    values = [0.5, math.nan, 0.9, 0.1, 0.9]
    assert worst_first(values, higher_is_better=False) == [2, 4, 0, 3, 1]  # high end first, NaN last
    assert worst_first(values, higher_is_better=True) == [3, 0, 2, 4, 1]
    keep = WorstFiles(2, higher_is_better=True)
    for i, v in enumerate(values):
        keep.offer(i, v, f"item{i}")
    assert keep.ranked() == [(3, "item3"), (0, "item0")]
    keep = WorstFiles(0, higher_is_better=True)
    keep.offer(0, 1.0, "x")
    assert keep.ranked() == []


def test_html_pieces_escape_names_and_quote_links():
    from vocoder_train.evaluation import html_report as h

    assert h.esc('a&b <c> "d"') == "a&amp;b &lt;c&gt; &quot;d&quot;"
    assert h.link("audio/A/0001_a#b c.wav") == "audio/A/0001_a%23b%20c.wav"
    table = h.table(["x<y"], [[h.number(1.5, "1.5")], [h.number(math.nan, "nan")], [("<b>", None)]])
    assert 'class="sortable"' in table and "<th>x&lt;y</th>" in table
    assert '<td data-v="1.5">1.5</td>' in table and '<td data-v="">nan</td>' in table
    assert "<td>&lt;b&gt;</td>" in table


def test_null_comparisons_are_rejected_at_the_nominal_rate():
    """Two systems drawn alike (paired per-file scores with a shared file effect): over many simulated A/B
    runs of 20 files the signed-rank test rejects at alpha 0.05 in 3-8% of them, and the bootstrap interval
    of the difference excludes 0 about as rarely (percentile intervals run a little narrow at n = 20)."""
    rng = np.random.default_rng(7)
    trials, files = 600, 20
    rejected = excluded = 0
    boot = Bootstrap(400, 0)
    for _ in range(trials):
        file_effect = rng.normal(3.0, 0.4, files)  # files differ a lot, systems not at all
        a, b = file_effect + rng.normal(0, 0.1, files), file_effect + rng.normal(0, 0.1, files)
        p, _ = signed_rank(b - a)
        rejected += p < 0.05
        d = paired_difference(a, b, boot, higher_is_better=True)
        excluded += d["verdict"] != NO_DIFFERENCE
    assert 0.03 <= rejected / trials <= 0.08, rejected / trials
    assert 0.02 <= excluded / trials <= 0.12, excluded / trials
