"""Listening test results: the listeners' CSVs, read against the test's key, screened and aggregated.

:func:`read_ratings` reads one or many CSVs that the page of :mod:`.listening_page` downloads and
checks each row against the key of :mod:`.listening` (the same test, a stimulus of that trial, a
rating in range). :func:`screen` applies BS.1534's post-screening to a MUSHRA test: a listener who
rates the hidden reference below :data:`REFERENCE_FLOOR` on more than :data:`MAX_MISSED_SHARE` of
the items they rated is excluded (an A/B test has no hidden reference: nobody is). :func:`score`
gives each condition's mean rating over the included listeners' ratings (MUSHRA) or each pair's
preference share (A/B: 1 preferred, 0.5 no preference, 0 not), with bootstrap intervals of the mean
(:func:`~vocoder_train.evaluation.statistics.mean_interval`, the ratings resampled).
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vocoder_train.evaluation.listening import KEY, KEY_FORMAT, KINDS
from vocoder_train.evaluation.listening_page import CSV_COLUMNS, NO_PREFERENCE
from vocoder_train.evaluation.media import REFERENCE
from vocoder_train.evaluation.statistics import Bootstrap, mean_interval

REFERENCE_FLOOR = 90.0  # BS.1534 post-screening: the hidden reference rated below this ...
MAX_MISSED_SHARE = 0.15  # ... on more than this share of the items excludes the listener
RESULTS = ("listening-results.json", "listening-results.csv")
AB_RATINGS = (0.0, NO_PREFERENCE, 1.0)


@dataclass(frozen=True)
class Rating:
    """One row of a listener's CSV, resolved through the key: ``label`` is the condition's name."""

    listener: str
    trial: int
    label: str
    rating: float
    source: str  # "file:row", for messages


def load_key(path: str | Path) -> dict:
    """The key a listening test wrote (``listening-key.json``); FileNotFoundError / ValueError saying
    what is wrong with it."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(
            f"{p}: no such listening key (vocoder-evaluate --listening writes OUTPUT/{KEY})"
        )
    try:
        key = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{p}: not a listening key, it is not valid JSON ({e})") from e
    if not isinstance(key, dict) or key.get("format") != KEY_FORMAT or key.get("kind") not in KINDS:
        raise ValueError(
            f"{p}: not a listening key (expected format {KEY_FORMAT!r}); pass the listening-key.json "
            "that vocoder-evaluate --listening wrote"
        )
    return key


def _rating(text: str, kind: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    ok = value in AB_RATINGS if kind == "ab" else 0 <= value <= 100
    if not ok:
        allowed = "0, 0.5 or 1" if kind == "ab" else "a number from 0 to 100"
        raise ValueError(f"{where}: rating {text!r} is not {allowed}")
    return value


def _read_csv(path: Path, key: dict, stimuli: dict[str, tuple[int, str]]) -> list[Rating]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such ratings file")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or [h.strip() for h in header] != list(CSV_COLUMNS):
            raise ValueError(
                f"{path}: row 1 is {header!r}, not the header {','.join(CSV_COLUMNS)} of a listening test's "
                "ratings; pass the CSVs the listening page downloads"
            )
        out = []
        for number, row in enumerate(reader, start=2):
            where = f"{path}:{number}"
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(CSV_COLUMNS):
                raise ValueError(
                    f"{where}: {len(row)} fields, expected {len(CSV_COLUMNS)} ({','.join(CSV_COLUMNS)})"
                )
            test, listener, trial, token, text = (cell.strip() for cell in row)
            if test != key["test"]:
                raise ValueError(
                    f"{where}: answers of listening test {test!r}, but the key is of test {key['test']!r}; "
                    "pass the listening-key.json written beside the page these listeners had"
                )
            if token not in stimuli or str(stimuli[token][0]) != trial:
                raise ValueError(f"{where}: stimulus {token!r} is not in trial {trial!r} of this test's key")
            if not listener:
                raise ValueError(f"{where}: no listener id")
            rating = _rating(text, key["kind"], where)
            out.append(Rating(listener, stimuli[token][0], stimuli[token][1], rating, where))
    return out


def read_ratings(paths: Sequence[str | Path], key: dict) -> list[Rating]:
    """Every rating in the CSVs ``paths``, checked against ``key``. ValueError naming the file and row of a
    CSV of another test, a malformed row, or a stimulus rated twice by one listener."""
    stimuli = {tok: (t["trial"], label) for t in key["trials"] for tok, label in t["stimuli"].items()}
    seen: dict[tuple[str, int, str], str] = {}
    ratings = []
    for path in paths:
        for r in _read_csv(Path(path), key, stimuli):
            first = seen.get((r.listener, r.trial, r.label))
            if first is not None:
                raise ValueError(
                    f"{r.source}: listener {r.listener!r} rated this stimulus already at {first}; give each "
                    "listener a distinct id and pass each answer file once"
                )
            seen[(r.listener, r.trial, r.label)] = r.source
            ratings.append(r)
    if not ratings:
        raise ValueError(f"no ratings in {', '.join(map(str, paths))}")
    if key["kind"] == "ab":
        _check_pairs(ratings)
    return ratings


def _check_pairs(ratings: Sequence[Rating]) -> None:
    """ValueError unless each A/B answer rates both samples of its trial, 1 and 0 or 0.5 and 0.5."""
    pairs: dict[tuple[str, int], list[Rating]] = defaultdict(list)
    for r in ratings:
        pairs[(r.listener, r.trial)].append(r)
    for (listener, trial), rows in pairs.items():
        if len(rows) != 2 or rows[0].rating + rows[1].rating != 1:
            found = ", ".join(f"{r.rating:g} at {r.source}" for r in rows)
            raise ValueError(
                f"listener {listener!r}, trial {trial}: an A/B answer rates both samples, 1 and 0 or 0.5 "
                f"and 0.5; found {found}"
            )


def screen(ratings: Sequence[Rating], kind: str) -> dict[str, dict]:
    """listener -> ``items`` (trials rated), ``reference_below`` (items whose hidden reference got less
    than :data:`REFERENCE_FLOOR`), ``excluded`` (more than :data:`MAX_MISSED_SHARE` of the items)."""
    items: dict[str, set[int]] = defaultdict(set)
    below: dict[str, set[int]] = defaultdict(set)
    for r in ratings:
        items[r.listener].add(r.trial)
        if kind == "mushra" and r.label == REFERENCE and r.rating < REFERENCE_FLOOR:
            below[r.listener].add(r.trial)
    return {
        name: {
            "items": len(trials),
            "reference_below": len(below[name]),
            "excluded": len(below[name]) > MAX_MISSED_SHARE * len(trials),
        }
        for name, trials in sorted(items.items())
    }


def _interval(values: list[float], boot: Bootstrap) -> dict:
    ci = mean_interval(values, boot)
    return {k: ci[k] for k in ("mean", "ci_low", "ci_high", "n", "ci_note")}


def score(ratings: Sequence[Rating], key: dict, excluded: set[str], boot: Bootstrap) -> list[dict]:
    """MUSHRA: per condition of the key, its ``label``, ``role``, mean rating and interval. A/B: per pair
    ``label`` "X vs Y", X's preference share and interval, and how often X, Y or neither was preferred."""
    kept = [r for r in ratings if r.listener not in excluded]
    conds = key["conditions"]
    if key["kind"] == "mushra":
        by_label = defaultdict(list)
        for r in kept:
            by_label[r.label].append(r.rating)
        return [
            {"label": lab, "role": conds[lab]["role"], **_interval(by_label[lab], boot)}
            for lab in conds
            if by_label[lab]
        ]
    pairs: dict[tuple[str, str], list[float]] = defaultdict(list)
    trials = {t["trial"]: sorted(t["stimuli"].values(), key=list(conds).index) for t in key["trials"]}
    for r in kept:
        first, second = trials[r.trial]
        if r.label == first:
            pairs[(first, second)].append(r.rating)
    out = []
    for (first, second), shares in pairs.items():
        counts = {f"{first}_preferred": shares.count(1.0), f"{second}_preferred": shares.count(0.0)}
        counts["no_preference"] = shares.count(NO_PREFERENCE)
        out.append(
            {
                "label": f"{first} vs {second}",
                "role": f"share preferring {first}",
                **_interval(shares, boot),
                **counts,
            }
        )
    return out


@dataclass
class ListeningResults:
    """What :func:`aggregate` found: the test's ``kind`` and id, its ``conditions`` (label -> role and
    model, from the key), per listener the screening, and the ``scores`` of :func:`score`."""

    kind: str
    test: str
    conditions: dict[str, dict]
    files: list[str]
    listeners: dict[str, dict]
    scores: list[dict]
    bootstrap: Bootstrap = field(default_factory=Bootstrap)

    @property
    def excluded(self) -> list[str]:
        return [name for name, s in self.listeners.items() if s["excluded"]]

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "test": self.test,
            "conditions": self.conditions,
            "files": self.files,
            "screening": (
                f"listeners rating the hidden reference below {REFERENCE_FLOOR:g} on more than "
                f"{100 * MAX_MISSED_SHARE:g}% of their items are excluded (ITU-R BS.1534)"
                if self.kind == "mushra"
                else "none (an A/B test has no hidden reference)"
            ),
            "listeners": self.listeners,
            "excluded": self.excluded,
            "intervals": f"{self.bootstrap.percent} bootstrap of the mean over ratings, "
            f"{self.bootstrap.resamples} resamples, seed {self.bootstrap.seed}",
            "scores": self.scores,
        }


def aggregate(
    paths: Sequence[str | Path], key_path: str | Path, boot: Bootstrap | None = None
) -> ListeningResults:
    """Reads the CSVs ``paths`` against the key at ``key_path``, screens the listeners and scores the
    conditions. ValueError when the screening leaves nobody."""
    boot = boot or Bootstrap()
    key = load_key(key_path)
    ratings = read_ratings(paths, key)
    listeners = screen(ratings, key["kind"])
    excluded = {name for name, s in listeners.items() if s["excluded"]}
    if len(excluded) == len(listeners):
        raise ValueError(
            f"every listener ({', '.join(listeners)}) rated the hidden reference below {REFERENCE_FLOOR:g} "
            f"on more than {100 * MAX_MISSED_SHARE:g}% of their items: no ratings are left to score"
        )
    scores = score(ratings, key, excluded, boot)
    files = [str(p) for p in paths]
    return ListeningResults(key["kind"], key["test"], key["conditions"], files, listeners, scores, boot)


def write_results(res: ListeningResults, out_dir: str | Path) -> list[Path]:
    """Writes :data:`RESULTS` (the whole result; one row per condition or pair) into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, csv_path = (out / name for name in RESULTS)
    json_path.write_text(json.dumps(res.to_json(), indent=2) + "\n")
    columns = list(dict.fromkeys(k for s in res.scores for k in s))
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(res.scores)
    return [json_path, csv_path]
