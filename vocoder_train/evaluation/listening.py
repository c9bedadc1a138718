"""Blind listening tests from an evaluation run: a MUSHRA (ITU-R BS.1534) or A/B preference page.

``vocoder-evaluate ... --listening mushra|ab`` keeps every file's generated audio, then
:func:`write_listening_test` picks ``items`` of the scored files at random and writes:

- ``OUTPUT/listening/``: the folder to hand to listeners (open ``index.html`` from disk or serve the
  folder): the page (:mod:`vocoder_train.evaluation.listening_page`) and ``stimuli/<token>.wav``.
  Nothing in it names a system: each stimulus has a random token, a trial's stimuli are in a random
  order, and the hidden reference is a copy of the open reference under another token.
- ``OUTPUT/listening-key.json``: which token is which system, the seed, the test's id. It stays
  outside the folder listeners get, and the page never loads it; :mod:`.listening_results` reads it
  back with the listeners' CSVs.

MUSHRA trials hold the hidden reference, the 3.5 kHz low-pass anchor BS.1534 requires (the
reference through a linear-phase low-pass, so it differs from the reference only in bandwidth),
every system of the run, and the Griffin-Lim baseline of an A/B run as a second anchor. A/B trials
pair the models of the run two by two (the Griffin-Lim baseline is left out), one pair of one item
a trial. Stimuli are cut to :data:`MAX_EXCERPT_S` (BS.1534 asks for short excerpts, about 10 s).
"""

from __future__ import annotations

import itertools
import json
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vocoder_train.evaluation.media import REFERENCE, audio_file

KINDS = ("mushra", "ab")
ANCHOR = "anchor_3.5kHz"  # the key's label of the low-pass anchor
ANCHOR_HZ = 3500.0  # BS.1534's low-pass anchor cut-off
ANCHOR_TRANSITION_HZ = 200.0  # width of the anchor filter's transition band, centred on the cut-off
ANCHOR_STOPBAND_DB = 80.0  # attenuation above the transition band
GRIFFIN_LIM = "griffin_lim"  # the A/B run's label of the Griffin-Lim baseline (vocoder_train.api)
MAX_EXCERPT_S = 10.0
FOLDER = "listening"
PAGE = "index.html"
KEY = "listening-key.json"
KEY_FORMAT = "vocoder-train listening key 1"
ROLES = {REFERENCE: "hidden reference", ANCHOR: "anchor", GRIFFIN_LIM: "anchor"}  # else "system"


def lowpass_anchor(audio: torch.Tensor, sample_rate: int, cutoff: float = ANCHOR_HZ) -> torch.Tensor:
    """``audio`` (T,) through a linear-phase (Kaiser-window FIR) low-pass: -6 dB at ``cutoff``,
    :data:`ANCHOR_STOPBAND_DB` down from ``cutoff + ANCHOR_TRANSITION_HZ / 2``, no delay. (T,)"""
    from scipy.signal import fftconvolve, firwin, kaiserord

    nyquist = sample_rate / 2
    if not 0 < cutoff + ANCHOR_TRANSITION_HZ / 2 < nyquist:
        raise ValueError(f"low-pass anchor: cut-off {cutoff} Hz does not fit under {nyquist} Hz (Nyquist)")
    taps, beta = kaiserord(ANCHOR_STOPBAND_DB, ANCHOR_TRANSITION_HZ / nyquist)
    taps += 1 - taps % 2  # odd: the delay is a whole number of samples, removed by "same"
    h = firwin(taps, cutoff, window=("kaiser", beta), fs=sample_rate)
    x = audio.detach().double().cpu().numpy()
    return torch.from_numpy(fftconvolve(x, h, mode="same")).float()


@dataclass(frozen=True)
class Condition:
    """One row of a trial: ``label`` (the key's name), ``model`` (what it is), where the run kept its
    audio of file ``index`` (``folder`` of :func:`~vocoder_train.evaluation.media.audio_file`; None for
    the reference and the anchor, made here)."""

    label: str
    model: str
    folder: str | None

    @property
    def role(self) -> str:
        return ROLES.get(self.label, "system")


def conditions(res, kind: str) -> list[Condition]:
    """The conditions of a test on ``res`` (an :class:`~vocoder_train.evaluation.copy_synthesis.EvalResult`
    or a :class:`~vocoder_train.evaluation.compare.Comparison`): the run's systems, plus the hidden
    reference and the anchor for MUSHRA. ValueError for A/B with fewer than two models."""
    if kind not in KINDS:
        raise ValueError(f"listening test {kind!r}: choose one of {', '.join(KINDS)}")
    systems = getattr(res, "systems", None)
    runs = (
        [Condition(s.label, s.model, s.label) for s in systems]
        if systems
        else [Condition("A", res.model, "")]
    )
    if kind == "ab":
        models = [c for c in runs if c.label != GRIFFIN_LIM]
        if len(models) < 2:
            raise ValueError("an A/B listening test needs two or more models: give vocoder-evaluate two")
        return models
    anchor = f"the reference low-passed at {ANCHOR_HZ / 1000:g} kHz (linear-phase FIR)"
    return [Condition(REFERENCE, "the reference file", None), Condition(ANCHOR, anchor, None), *runs]


def _sample_rate(res) -> int:
    systems = getattr(res, "systems", None)
    return systems[0].sample_rate if systems else int(res.sample_rate)


def _stimulus(out: Path, audio: torch.Tensor, sample_rate: int, tokens: set[str]) -> str:
    """Writes ``audio`` (T,) as ``stimuli/<token>.wav`` under ``out``; returns the new token."""
    from vocoder_train.io.audio import save_audio

    token = secrets.token_hex(6)
    while token in tokens:
        token = secrets.token_hex(6)
    tokens.add(token)
    save_audio(out / "stimuli" / f"{token}.wav", audio[: int(MAX_EXCERPT_S * sample_rate)], sample_rate)
    return token


Audio = tuple[torch.Tensor, int]  # (T,) and its sample rate


def _item_audio(res, run_dir: Path, index: int, conds: list[Condition]) -> tuple[Audio, dict[str, Audio]]:
    """The reference of file ``index`` and, for each of ``conds``, label -> its audio of that file."""
    from vocoder_train.evaluation.copy_synthesis import load_reference
    from vocoder_train.io.audio import load_audio

    path = res.rows[index]["path"]
    sr = _sample_rate(res)
    ref = load_reference(path, sr)[0]
    out = {REFERENCE: (ref, sr), ANCHOR: (lowpass_anchor(ref, sr), sr)}
    for c in conds:
        if c.folder is not None:
            saved = run_dir / audio_file(index, path, c.folder)
            if not saved.is_file():
                raise FileNotFoundError(
                    f"{saved}: the run kept no audio of {c.label} for {path}; a listening test needs "
                    "every file's generated audio (vocoder-evaluate --listening keeps it)"
                )
            audio, rate = load_audio(saved)
            out[c.label] = (audio[0], rate)
    return out[REFERENCE], {c.label: out[c.label] for c in conds}


def write_listening_test(res, output: str | Path, kind: str, seed: int = 0, items: int = 10) -> Path:
    """Writes the listening page of ``kind`` ("mushra" or "ab") on ``items`` files of ``res`` (drawn with
    ``numpy.random.default_rng(seed)``, which also orders the trials and each trial's stimuli) into
    ``output``/listening/ and the key into ``output``/listening-key.json; returns the key's path.
    ``res``: a run that kept every file's generated audio in ``output``/audio/."""
    from vocoder_train.evaluation.listening_page import render

    conds = conditions(res, kind)
    if items < 1:
        raise ValueError(f"listening test: items must be at least 1, got {items}")
    run_dir, rng = Path(output), np.random.default_rng(seed)
    out = run_dir / FOLDER
    shutil.rmtree(out / "stimuli", ignore_errors=True)  # a test written here before: its tokens go
    picked = sorted(rng.choice(len(res.rows), size=min(items, len(res.rows)), replace=False).tolist())
    groups = [conds] if kind == "mushra" else [list(p) for p in itertools.combinations(conds, 2)]
    plan = [(index, group) for index in picked for group in groups]
    tokens: set[str] = set()
    trials = []
    for number, k in enumerate(rng.permutation(len(plan)).tolist(), start=1):
        index, group = plan[k]
        open_reference, audio = _item_audio(res, run_dir, index, group)
        reference = _stimulus(out, *open_reference, tokens)
        stimuli = {
            _stimulus(out, *audio[group[j].label], tokens): group[j].label
            for j in rng.permutation(len(group))
        }
        trials.append(
            {"trial": number, "item": res.rows[index]["path"], "reference": reference, "stimuli": stimuli}
        )
    test_id = secrets.token_hex(8)
    public = [(t["trial"], t["reference"], list(t["stimuli"])) for t in trials]  # tokens only, no labels
    (out / PAGE).write_text(render(kind, test_id, public))
    key = {
        "format": KEY_FORMAT,
        "test": test_id,
        "kind": kind,
        "seed": int(seed),
        "page": f"{FOLDER}/{PAGE}",
        "conditions": {c.label: {"role": c.role, "model": c.model} for c in conds},
        "trials": trials,
    }
    key_path = run_dir / KEY
    key_path.write_text(json.dumps(key, indent=2) + "\n")
    return key_path
