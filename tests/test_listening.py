"""Listening tests without a browser: the 3.5 kHz anchor, the blind folder and its key, and the
aggregation of listeners' CSVs (BS.1534 screening, intervals, the errors a wrong file gets)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from vocoder_train.evaluation.listening import (
    ANCHOR,
    FOLDER,
    KEY,
    KEY_FORMAT,
    lowpass_anchor,
    write_listening_test,
)
from vocoder_train.evaluation.listening_page import CSV_COLUMNS
from vocoder_train.evaluation.listening_results import aggregate, load_key, read_ratings
from vocoder_train.evaluation.statistics import Bootstrap, mean_interval

SR = 16000
LABELS = ("reference", ANCHOR, "A", "B")


def _sine(hz: float, seconds: float = 0.5) -> torch.Tensor:
    t = torch.arange(int(SR * seconds), dtype=torch.float64) / SR  # float32 phase noise would pass the filter
    return torch.sin(2 * math.pi * hz * t)


def test_the_anchor_keeps_what_is_below_3_5_khz_in_place_and_removes_what_is_above():
    low, high = _sine(1000.0), _sine(5000.0)
    mid = slice(SR // 10, -SR // 10)  # away from the edges, where the filter sees zeros
    passed = lowpass_anchor(low + high, SR)
    assert passed.shape == low.shape
    assert torch.allclose(passed[mid], low[mid].float(), atol=1e-3)  # no delay, no gain, the 5 kHz tone gone
    assert 20 * math.log10(lowpass_anchor(high, SR)[mid].abs().max()) < -70
    with pytest.raises(ValueError, match="Nyquist"):
        lowpass_anchor(low, 6000)


def _fake_run(tmp_path: Path, labels=("A", "B", "griffin_lim"), files: int = 3):
    """A run as write_listening_test reads it: rows, systems and their kept audio, without a model."""
    from vocoder_train.evaluation.media import audio_file
    from vocoder_train.io.audio import save_audio

    rows = []
    for i in range(files):
        path = tmp_path / "wavs" / f"f{i}.wav"
        save_audio(path, _sine(200.0 + 100 * i, 0.3), SR)
        rows.append({"path": str(path)})
        for lab in labels:
            save_audio(tmp_path / "run" / audio_file(i, str(path), lab), _sine(200.0 + 100 * i, 0.3), SR)
    systems = [SimpleNamespace(label=lab, model=f"models/{lab}", sample_rate=SR) for lab in labels]
    return SimpleNamespace(rows=rows, systems=systems)


def test_the_test_folder_names_no_system_and_the_seed_fixes_the_order(tmp_path):
    res = _fake_run(tmp_path)
    run = tmp_path / "run"
    key = json.loads(write_listening_test(res, run, "mushra", seed=3, items=2).read_text())
    assert key["format"] == KEY_FORMAT and key["seed"] == 3 and not (run / FOLDER / KEY).exists()
    assert list(key["conditions"]) == ["reference", ANCHOR, "A", "B", "griffin_lim"]
    assert key["conditions"]["griffin_lim"]["role"] == "anchor" and len(key["trials"]) == 2
    again = json.loads(write_listening_test(res, run, "mushra", seed=3, items=2).read_text())
    orders = [[list(t["stimuli"].values()) for t in k["trials"]] for k in (key, again)]
    assert orders[0] == orders[1]
    assert [t["item"] for t in key["trials"]] == [t["item"] for t in again["trials"]]
    page = (run / FOLDER / "index.html").read_text()
    assert "models/" not in page and "griffin" not in page and "wavs" not in page and again["test"] in page
    files = {p.name for p in (run / FOLDER).rglob("*") if p.is_file()}  # the first test's stimuli are gone
    tokens = {t for tr in again["trials"] for t in (tr["reference"], *tr["stimuli"])}
    assert files == {"index.html"} | {f"{t}.wav" for t in tokens} and len(tokens) == 2 * 6
    ab = json.loads(write_listening_test(res, run, "ab", seed=3, items=3).read_text())
    assert [sorted(t["stimuli"].values()) for t in ab["trials"]] == [["A", "B"]] * 3  # Griffin-Lim left out


def test_a_single_model_run_and_what_a_test_cannot_be_made_of(tmp_path):
    res = _fake_run(tmp_path, labels=("A",), files=1)
    with pytest.raises(ValueError, match="two or more models"):
        write_listening_test(res, tmp_path / "run", "ab")
    key = json.loads(write_listening_test(res, tmp_path / "run", "mushra").read_text())
    assert list(key["conditions"]) == ["reference", ANCHOR, "A"] and len(key["trials"]) == 1
    (tmp_path / "run" / "audio" / "A" / "0000_f0.wav").unlink()
    with pytest.raises(FileNotFoundError, match="0000_f0.wav.*kept no audio of A"):
        write_listening_test(res, tmp_path / "run", "mushra")


# -- aggregation ---------------------------------------------------------------------------------------


def _key(tmp_path: Path, items: int, kind: str = "mushra", test: str = "t123") -> Path:
    labels = LABELS if kind == "mushra" else ("A", "B")
    trials = [
        {
            "trial": n,
            "item": f"f{n}.wav",
            "reference": f"r{n}",
            "stimuli": {f"s{n}{lab}": lab for lab in labels},
        }
        for n in range(1, items + 1)
    ]
    conditions = {lab: {"role": "system", "model": lab} for lab in labels}
    doc = {
        "format": KEY_FORMAT,
        "test": test,
        "kind": kind,
        "seed": 0,
        "conditions": conditions,
        "trials": trials,
    }
    path = tmp_path / KEY
    path.write_text(json.dumps(doc))
    return path


def _answers(tmp_path: Path, listener: str, rating, items: int, test: str = "t123", labels=LABELS) -> Path:
    """rating(trial, label) -> the listener's rating; one CSV as the page writes it."""
    path = tmp_path / f"ratings-{listener}.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for n in range(1, items + 1):
            w.writerows([test, listener, n, f"s{n}{lab}", rating(n, lab)] for lab in labels)
    return path


def _mushra(reference_below: int, a: float):
    def rating(n: int, label: str) -> float:
        return {"reference": 50 if n <= reference_below else 100, ANCHOR: 10, "A": a + n % 3, "B": 40}[label]

    return rating


def test_screening_excludes_more_than_15_percent_of_hidden_references_below_90(tmp_path):
    key = _key(tmp_path, 20)
    csvs = [
        _answers(tmp_path, "good", _mushra(0, 80), 20),
        _answers(tmp_path, "three", _mushra(3, 70), 20),  # 15%: kept
        _answers(tmp_path, "four", _mushra(4, 10), 20),  # 20%: excluded
    ]
    res = aggregate(csvs, key, Bootstrap(500, seed=1))
    assert res.excluded == ["four"]
    assert res.listeners["three"] == {"items": 20, "reference_below": 3, "excluded": False}
    scores = {s["label"]: s for s in res.scores}
    a = [80 + n % 3 for n in range(1, 21)] + [70 + n % 3 for n in range(1, 21)]
    assert scores["A"] == {"label": "A", "role": "system", **mean_interval(a, Bootstrap(500, seed=1))}
    assert scores["A"]["ci_low"] < scores["A"]["mean"] < scores["A"]["ci_high"] and scores["A"]["n"] == 40
    assert scores["reference"]["mean"] == pytest.approx((2000 + 50 * 3 + 100 * 17) / 40)
    assert scores["B"]["ci_low"] == scores["B"]["ci_high"] == 40
    doc = res.to_json()
    assert (
        doc["excluded"] == ["four"] and "BS.1534" in doc["screening"] and "500 resamples" in doc["intervals"]
    )
    with pytest.raises(ValueError, match="every listener"):
        aggregate([csvs[2]], key)


def test_ab_shares_count_no_preference_as_half(tmp_path):
    key = _key(tmp_path, 4, kind="ab")
    choices = {1: ("A", "B"), 2: ("A", "B"), 3: ("B", "A"), 4: (None, None)}  # (preferred, other)

    def rating(n: int, label: str) -> float:
        return 0.5 if choices[n][0] is None else float(choices[n][0] == label)

    res = aggregate([_answers(tmp_path, "x", rating, 4, labels=("A", "B"))], key)
    (pair,) = res.scores
    assert pair["label"] == "A vs B" and pair["mean"] == pytest.approx(2.5 / 4) and res.excluded == []
    assert (pair["A_preferred"], pair["B_preferred"], pair["no_preference"]) == (2, 1, 1)
    both = _answers(tmp_path, "y", lambda n, label: 1.0, 1, labels=("A", "B"))
    with pytest.raises(
        ValueError, match=r"'y', trial 1: .* found 1 at .*ratings-y.csv:2, 1 at .*ratings-y.csv:3"
    ):
        read_ratings([both], load_key(key))


HEADER = ",".join(CSV_COLUMNS) + "\n"


@pytest.mark.parametrize(
    "text, message",
    [
        (
            HEADER + "t999,ann,1,s1A,90\n",
            r"bad.csv:2: answers of listening test 't999'.*key is of test 't123'",
        ),
        (
            HEADER + "t123,ann,1,s1A,90\nt123,ann,1,s1B,lots\n",
            r"bad.csv:3: rating 'lots' is not a number from 0 to 100",
        ),
        (HEADER + "t123,ann,2,s1A,90\n", r"bad.csv:2: stimulus 's1A' is not in trial '2'"),
        (HEADER + "t123,,1,s1A,90\n", r"bad.csv:2: no listener id"),
        (HEADER + "t123,ann,1\n", r"bad.csv:2: 3 fields, expected 5"),
        ("name,score\nann,3\n", r"bad.csv: row 1 is \['name', 'score'\], not the header"),
    ],
)
def test_a_csv_of_another_test_or_a_malformed_row_is_named(tmp_path, text, message):
    key = load_key(_key(tmp_path, 2))
    (tmp_path / "bad.csv").write_text(text)
    with pytest.raises(ValueError, match=message):
        read_ratings([tmp_path / "bad.csv"], key)


def test_missing_files_a_wrong_key_and_answers_given_twice(tmp_path):
    key = load_key(_key(tmp_path, 2))
    good = _answers(tmp_path, "ann", _mushra(0, 50), 2)
    with pytest.raises(ValueError, match=r"ratings-ann.csv:2: listener 'ann' rated this stimulus already"):
        read_ratings([good, good], key)
    with pytest.raises(FileNotFoundError, match="missing.csv: no such ratings file"):
        read_ratings([tmp_path / "missing.csv"], key)
    with pytest.raises(FileNotFoundError, match="nokey.json: no such listening key"):
        load_key(tmp_path / "nokey.json")
    with pytest.raises(ValueError, match="ratings-ann.csv: not a listening key, it is not valid JSON"):
        load_key(good)
    (tmp_path / "other.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ValueError, match="other.json: not a listening key"):
        load_key(tmp_path / "other.json")


def test_the_command_line_scores_answers_and_refuses_mixed_modes(tmp_path, capsys):
    from vocoder_train.cli.evaluate import main

    key = _key(tmp_path, 3)
    answers = [str(_answers(tmp_path, name, _mushra(0, a), 3)) for name, a in (("ann", 80), ("bo", 60))]
    assert main(["--listening-results", *answers, "--listening-key", str(key), "--seed", "2"]) == 0
    printed = capsys.readouterr().out
    assert "mushra test t123: 2 listeners, 2 kept" in printed and "95% interval" in printed
    row = next(line.split() for line in printed.splitlines() if line.split()[:1] == ["A"])
    assert float(row[1]) == pytest.approx(
        np.mean([80 + n % 3 for n in (1, 2, 3)] + [60 + n % 3 for n in (1, 2, 3)])
    )
    assert (tmp_path / "listening-results.csv").is_file()
    assert main(["--listening-results", answers[0], "--listening-key", str(tmp_path / "none.json")]) == 1
    assert "none.json: no such listening key" in capsys.readouterr().err
    for argv, message in [
        (["--listening-results", answers[0]], "needs --listening-key"),
        (["m", "--listening-results", answers[0], "--listening-key", str(key)], "leave out MODEL"),
        (["m", "--data", "d", "-o", "o", "--listening", "ab"], "give two or more"),
        (["--data", "d", "-o", "o"], "give MODEL, --data and --output"),
    ]:
        with pytest.raises(SystemExit):
            main(argv)
        assert message in capsys.readouterr().err
