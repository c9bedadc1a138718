"""The listening-test options of ``vocoder-evaluate``: writing a blind test from a run, and scoring the
answers (``--listening-results``). Argument parsing and printing over
:mod:`vocoder_train.evaluation.listening` and :mod:`vocoder_train.evaluation.listening_results`.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from vocoder_train.evaluation.listening import FOLDER, KEY, KINDS, PAGE

EPILOG = (
    "  vocoder-evaluate A.ckpt B/ --data val.jsonl -o eval/ab --listening mushra   # eval/ab/listening/\n"
    "  vocoder-evaluate --listening-results answers/*.csv --listening-key eval/ab/listening-key.json"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("listening tests")
    g.add_argument(
        "--listening",
        choices=KINDS,
        default=None,
        help=f"also write a blind listening test on the run's audio: OUTPUT/{FOLDER}/ (give this folder to "
        f"listeners; {PAGE} opens from disk) and OUTPUT/{KEY} (which stimulus is which system: keep it). "
        "mushra: ITU-R BS.1534 with the hidden reference, the 3.5 kHz low-pass anchor and, in an A/B run, "
        "Griffin-Lim as a second anchor; ab: preference between each two models. Keeps every file's "
        "generated audio (as --save-audio); --seed draws the items and orders the trials",
    )
    g.add_argument(
        "--listening-items",
        type=int,
        default=10,
        metavar="N",
        help="how many of the evaluated files the listening test plays (default 10; drawn at random)",
    )
    g.add_argument(
        "--listening-results",
        nargs="+",
        default=None,
        metavar="CSV",
        help="score the answers of a listening test instead of evaluating: the CSVs listeners downloaded "
        "(needs --listening-key; no MODEL or --data). Writes listening-results.json and .csv into "
        "--output (default: beside the key) and prints each system's mean with its interval",
    )
    g.add_argument(
        "--listening-key", default=None, metavar="JSON", help=f"the {KEY} of the test the CSVs answer"
    )


def check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """parser.error for listening options that cannot work, before anything runs."""
    if args.listening_results is not None:
        if args.listening_key is None:
            parser.error(f"--listening-results needs --listening-key (the {KEY} the listening test wrote)")
        if args.model or args.data or args.listening:
            parser.error("--listening-results scores answers only: leave out MODEL, --data and --listening")
        return
    if args.listening_key is not None:
        parser.error("--listening-key goes with --listening-results")
    if not args.model or args.data is None or args.output is None:
        parser.error("give MODEL, --data and --output (or --listening-results CSV ... --listening-key JSON)")
    if args.listening == "ab" and len(args.model) < 2:
        parser.error("--listening ab compares models: give two or more")
    if args.listening_items < 1:
        parser.error(f"--listening-items {args.listening_items}: needs at least 1")


def write_test(res, args: argparse.Namespace) -> int:
    """Writes the listening test of ``args.listening`` on the run ``res`` and says where it is."""
    from vocoder_train.evaluation.listening import write_listening_test

    try:
        key = write_listening_test(res, args.output, args.listening, args.seed, args.listening_items)
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        print(f"vocoder-evaluate: error: listening test: {e}", file=sys.stderr)
        return 1
    folder = Path(args.output) / FOLDER
    print(
        f"listening test ({args.listening}, seed {args.seed}) in {folder}: give listeners this folder "
        f"({PAGE}); keep {key} to score their answers"
    )
    return 0


def _cell(value: float) -> str:
    return f"{value:.1f}" if math.isfinite(value) else "-"


def score_answers(args: argparse.Namespace) -> int:
    """``--listening-results``: aggregates the CSVs, writes the result files and prints the table."""
    from vocoder_train.evaluation.listening_results import REFERENCE_FLOOR, aggregate, write_results
    from vocoder_train.evaluation.statistics import Bootstrap

    try:
        res = aggregate(args.listening_results, args.listening_key, Bootstrap(args.bootstrap, args.seed))
        written = write_results(res, args.output or Path(args.listening_key).parent)
    except (FileNotFoundError, ValueError) as e:
        print(f"vocoder-evaluate: error: {e}", file=sys.stderr)
        return 1
    kept = len(res.listeners) - len(res.excluded)
    print(f"{res.kind} test {res.test}: {len(res.listeners)} listeners, {kept} kept")
    for label, c in res.conditions.items():
        print(f"  {label}: {c['model']} ({c['role']})")
    for name, s in res.listeners.items():
        if s["excluded"]:
            below = f"{s['reference_below']} of {s['items']} items"
            print(f"  excluded {name}: hidden reference below {REFERENCE_FLOOR:g} on {below}")
    scale = 100 if res.kind == "ab" else 1  # A/B shares as percentages
    width = max(len(s["label"]) for s in res.scores)
    print(f"  {'':<{width}}  {'mean':>7}  {res.bootstrap.percent + ' interval':<16}  ratings")
    for s in res.scores:
        low, high = (_cell(scale * s[k]) for k in ("ci_low", "ci_high"))
        mean = _cell(scale * s["mean"])
        interval = f"[{low}, {high}]"
        print(f"  {s['label']:<{width}}  {mean:>7}  {interval:<16}  {s['n']:>7}  {s['role']}")
    print(f"results in {', '.join(map(str, written))}")
    return 0
