#!/usr/bin/env python3
"""Regenerate the demo speech corpus shipped in recipes/demo/corpus.

The corpus is synthetic English speech made with espeak-ng: 8 voices (espeak-ng voice variants
with different pitch and speed settings, from a low male-ish to a high female-ish f0), each
speaking its own sentences from the 120 sentences written below for this project. Every
sentence is spoken exactly once, so the held-out files hold sentences never heard in training.

Output (flat folder):
  {voice}_{index:03d}.flac   24 kHz, mono, 16-bit FLAC; index = sentence number in SENTENCES
  transcripts.tsv            file<TAB>voice<TAB>text, one line per file
  heldout.txt                basenames of the held-out files (~10%, spread across voices)

Pipeline per utterance: espeak-ng writes a 22050 Hz WAV; sox trims leading/trailing silence,
pads 0.1 s of silence on each side, resamples with its very-high-quality resampler
(`rate -v 24000`) and peak-normalizes to -3 dBFS (`norm -3`), rounding to 16 bits without
dither (-D: deterministic, and exact digital silence keeps the FLAC files small); the output
is bit-identical between runs with the same tool versions.

Needs espeak-ng and sox on PATH (Debian packages espeak-ng and sox) and numpy + soundfile
(run it with .venv/bin/python): the FLAC files get a seeded TPDF dither, so they are reproducible
byte for byte and have the noise floor of a real 16-bit recording instead of digital silence.
Usage: python recipes/demo/make_corpus.py [--output DIR] [--seed N]
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

SAMPLE_RATE = 24000
HELDOUT_FRACTION = 0.10

# name -> (espeak-ng voice+variant, pitch -p 0..99, speed -s words/min), male-ish then female-ish.
# British English is "en" (voice file gmw/en): espeak-ng 1.51 silently ignores a variant written
# as "en-gb+f2" (the output equals plain en-gb), so check_variants() guards against that.
VOICES: dict[str, tuple[str, int, int]] = {
    "usm3": ("en-us+m3", 10, 168),  # lowest f0
    "rpm4": ("en-gb-x-rp+m4", 35, 175),
    "gbm1": ("en+m1", 55, 182),
    "usm7": ("en-us+m7", 65, 172),
    "gbf2": ("en+f2", 35, 185),
    "usf1": ("en-us+f1", 55, 190),
    "scf5": ("en-gb-scotland+f5", 70, 168),
    "usf4": ("en-us+f4", 92, 178),  # highest f0
}

# 120 sentences written for this project (no third-party text). Phonetically varied:
# questions, numbers, dates, times, names, places, lists, fricatives, plosives, nasals.
SENTENCES: list[str] = [
    "The kettle whistled while Maria searched the drawer for a clean spoon.",
    "Could you bring the blue folder to room twelve before lunch?",
    "Seven sheep slept beside the shallow stream all afternoon.",
    "Our train leaves at half past nine from platform four.",
    "Why did the orange cat climb onto the warm roof again?",
    "Thomas bought three pounds of apples and a loaf of rye bread.",
    "The museum closes early on Sundays during the winter months, so plan to arrive before three o'clock.",
    "Please measure the board twice and cut it only once.",
    "She counted forty-two birds on the wire near the bridge.",
    "How many languages does your grandmother speak fluently?",
    "A gentle breeze pushed the little boat toward the northern shore.",
    "The recipe calls for two eggs, a cup of milk and some butter.",
    "Jacob fixed the squeaky hinge with a drop of oil.",
    "Is the pharmacy on the corner still open at this hour?",
    "Thick fog rolled over the valley just before dawn.",
    "In 1987 the village built a new school beside the church.",
    "Quiet voices drifted from the kitchen into the dark hallway.",
    "The judge asked the witness to repeat her answer slowly.",
    "Do you prefer tea with lemon or coffee with cream?",
    "Lightning flashed twice, and then the thunder shook the windows.",
    "Priya planted tomatoes, peppers and beans in the garden last spring.",
    "The budget for the project rose by fifteen percent this year.",
    "Whose bicycle is leaning against the garage door?",
    "A sudden shower soaked the crowd waiting for the parade.",
    "Oliver practiced the violin for an hour every evening.",
    "The hotel offers free breakfast between six and ten in the morning.",
    "Where exactly did you leave the keys to the van?",
    "Fresh snow covered the path, hiding every footprint.",
    "The pilot announced a short delay because of heavy traffic.",
    "Nina wrote her phone number on the back of a receipt.",
    "Three hundred and sixty people attended the concert on Friday.",
    "Which of these two jackets looks warmer to you?",
    "The old clock in the hall chimes every quarter hour.",
    "Heavy boxes were stacked against the wall of the warehouse.",
    "Ahmed smiled and handed the puppy back to the little girl.",
    "Our neighbors are painting their fence a bright shade of yellow.",
    "Can we finish the report by Thursday afternoon?",
    "The river froze solid during the coldest week of January.",
    "A thin crack ran across the middle of the mirror.",
    "The baker opens his shop at five thirty every morning.",
    "Elena asked whether the bus stops near the zoo.",
    "Shiny pebbles glittered at the bottom of the clear pool.",
    "The committee will vote on the proposal next Tuesday.",
    "Would you like to join us for dinner on Saturday?",
    "Eight children played tag in the yard until sunset.",
    "The mechanic said the brakes need to be replaced soon.",
    "Hugo forgot his umbrella and walked home in the rain.",
    "A single candle lit the stairs.",
    "The population of the town doubled between 1950 and 1990.",
    "What time does the last ferry leave for the island?",
    "Grace quickly zipped her bag and ran for the bus.",
    "The library lends books, films and even gardening tools.",
    "Smoke rose from the chimney of the cottage on the hill.",
    "The scientist recorded the temperature every twenty minutes.",
    "Have you ever seen a whale from the deck of a ship?",
    "Two owls hooted softly in the pine trees behind the barn.",
    "Kevin measured the room and ordered seventeen square meters of carpet.",
    "The storm knocked down several power lines along the coast.",
    "Please switch off the lights when you leave the office.",
    "Isabel answered every question on the quiz correctly.",
    "The farmer loaded the hay onto the truck before noon.",
    "Is it true that the bridge will be closed for repairs?",
    "Warm bread and soup were served to the tired hikers.",
    "The children giggled as the clown juggled five bright balls.",
    "Our flight number is BA 2049, departing from gate eleven.",
    "Leo carefully glued the broken handle back onto the mug.",
    "Why are the streets so quiet?",
    "A flock of geese flew south in a long uneven line.",
    "The teacher wrote the date on the board in large letters.",
    "Samuel and Chloe met at a chess club in Boston.",
    "The price of the ticket includes a guided tour of the castle.",
    "Did anyone notice the strange noise coming from the engine?",
    "Yellow leaves swirled across the empty parking lot.",
    "Mix the flour and sugar, then add the water slowly.",
    "The hospital hired twelve new nurses in the autumn.",
    "How far is it from here to the nearest gas station?",
    "Beth hummed a cheerful tune while she washed the dishes.",
    "Pale moonlight shimmered on the surface of the lake.",
    "The delivery truck arrived three hours later than expected.",
    "Victor's dog barks whenever the mail carrier rings the bell.",
    "Would you mind closing the window? It's getting chilly.",
    "The gardener trimmed the hedges into neat round shapes.",
    "On the fourth of July the whole street watched the fireworks.",
    "Jasmine typed the final page of her thesis at midnight.",
    "The bakery sold out of cinnamon rolls by nine o'clock.",
    "Are these shoes available in a larger size?",
    "A curious fox peeked out from behind the woodpile.",
    "Before the test began, the engineer checked each valve, gauge and cable twice and signed the logbook.",
    "Ninety-nine red balloons floated above the town square.",
    "Frank usually jogs along the canal before breakfast.",
    "Who left this mysterious package on the front steps?",
    "The soup needs a pinch more salt and some black pepper.",
    "Every Wednesday evening the choir rehearses in the old chapel,"
    " even when only half the singers can come.",
    "Thousands of fans cheered when the team scored the winning goal.",
    "Maya read the instructions aloud while Sam assembled the shelf.",
    "Which road should I take to avoid the heavy traffic?",
    "The violinist bowed deeply as the audience applauded.",
    "Cold water dripped from the faucet.",
    "The shop on Elm Street sells handmade wooden toys.",
    "Did you remember to feed the fish before we left?",
    "George painted the kitchen walls a soft shade of green.",
    "The meeting was moved from room 204 to the main hall.",
    "A strong wind scattered the papers all over the floor.",
    "Anna's grandfather still repairs watches in his tiny workshop.",
    "When does the new semester begin?",
    "The waves crashed loudly against the jagged rocks.",
    "Mark the boxes clearly so the movers know where they go.",
    "The marathon route passes through six different neighborhoods,"
    " crosses two bridges and finishes in Riverside Park.",
    "Lucas whispered the secret password to his younger brother.",
    "What did the doctor say about your sprained ankle?",
    "Bright posters advertised the summer festival on every wall.",
    "The printer jammed again halfway through the long document.",
    "Sophie earned enough money to buy a secondhand piano.",
    "Could you spell your last name for me, please?",
    "The hikers reached the summit just as the sun came up.",
    "A tall stack of dishes waited beside the sink.",
    "The city council approved a plan for forty new bike lanes.",
    "Daniel joked that the cake looked better than it tasted.",
    "Is there a quiet place nearby where we can study?",
    "The autumn fair featured pumpkins, cider and a brass band.",
]


def check_tools() -> None:
    missing = [t for t in ("espeak-ng", "sox") if shutil.which(t) is None]
    if missing:
        sys.exit(f"error: missing tools on PATH: {', '.join(missing)} "
                 "(apt-get install espeak-ng sox)")


def check_variants() -> None:
    """Fail if a voice's +variant has no effect (espeak-ng falls back silently on bad names)."""
    def render(voice: str) -> bytes:
        return subprocess.run(["espeak-ng", "-v", voice, "--stdout", "--stdin"], input=b"Check.",
                              check=True, capture_output=True).stdout
    for name, (voice, _, _) in VOICES.items():
        base, _, variant = voice.partition("+")
        if variant and render(voice) == render(base):
            sys.exit(f"error: espeak-ng ignores the variant in {voice!r} (voice {name})")


def synthesize(text: str, voice: tuple[str, int, int], out_path: Path, tmp_dir: Path) -> None:
    """espeak-ng -> 22050 Hz WAV -> sox: trim silence, pad 0.1 s, resample to 24 kHz, norm -3 dBFS
    -> 16-bit FLAC with seeded TPDF dither (see :func:`write_dithered`)."""
    espeak_voice, pitch, speed = voice
    raw, mid = tmp_dir / "raw.wav", tmp_dir / "float.wav"
    subprocess.run(
        ["espeak-ng", "-v", espeak_voice, "-p", str(pitch), "-s", str(speed),
         "-w", str(raw), "--stdin"],
        input=text.encode(), check=True, stdout=subprocess.DEVNULL,
    )
    subprocess.run(
        ["sox", "-D", "-V1", str(raw), "-c", "1", "-b", "32", "-e", "floating-point", "-r", str(SAMPLE_RATE),
         str(mid),
         # trim leading silence, then trailing (via reverse); -50 dB threshold, 10 ms above it
         "silence", "1", "0.01", "-50d", "reverse", "silence", "1", "0.01", "-50d", "reverse",
         "pad", "0.1", "0.1",
         "rate", "-v", str(SAMPLE_RATE),
         "norm", "-3"],
        check=True,
    )
    write_dithered(mid, out_path, seed=zlib.crc32(out_path.name.encode()))


def write_dithered(src: Path, dst: Path, seed: int) -> None:
    """float WAV -> 16-bit FLAC with TPDF dither (+-1 LSB) from a seeded generator.

    Real recordings never contain digital silence; without a noise floor the log-mel of the
    padding is the log floor (1e-7) and any vocoder output there dominates mel-L1 figures.
    The dither is the least a 16-bit recording has (about -98 dBFS RMS) and keeps the files
    reproducible byte for byte.
    """
    import numpy as np
    import soundfile as sf

    x, sr = sf.read(str(src), dtype="float64")
    rng = np.random.default_rng(seed)
    tpdf = rng.uniform(-0.5, 0.5, x.shape) + rng.uniform(-0.5, 0.5, x.shape)
    q = np.clip(np.round(x * 32767.0 + tpdf), -32768, 32767).astype(np.int16)
    sf.write(str(dst), q, sr, format="FLAC", subtype="PCM_16")


def plan(seed: int) -> tuple[list[tuple[str, int]], set[tuple[str, int]]]:
    """Deal shuffled sentences round-robin to voices; pick held-out files spread across voices."""
    rng = random.Random(seed)
    order = list(range(len(SENTENCES)))
    rng.shuffle(order)
    names = list(VOICES)
    items = sorted((names[k % len(names)], idx) for k, idx in enumerate(order))
    n_heldout = round(HELDOUT_FRACTION * len(items))
    by_voice = {v: [it for it in items if it[0] == v] for v in names}
    # each voice gets n_heldout // n_voices held-out files, the remainder goes to random voices
    extra = set(rng.sample(names, n_heldout % len(names)))
    heldout = set()
    for v in names:
        heldout.update(rng.sample(by_voice[v], n_heldout // len(names) + (v in extra)))
    return items, heldout


def main(argv: list[str] | None = None) -> int:
    here = Path(__file__).resolve().parent
    voices = ", ".join(f"{k}={v[0]} -p {v[1]} -s {v[2]}" for k, v in VOICES.items())
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=f"Voices: {voices}")
    ap.add_argument("--output", type=Path, default=here / "corpus",
                    help="output folder (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0,
                    help="seed for the sentence-to-voice assignment and the held-out pick (default: 0)")
    args = ap.parse_args(argv)

    check_tools()
    check_variants()
    out: Path = args.output
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.flac"):  # regenerate from scratch: no stale files from another seed
        old.unlink()

    items, heldout = plan(args.seed)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, (voice, idx) in enumerate(items, 1):
            name = f"{voice}_{idx:03d}.flac"
            synthesize(SENTENCES[idx], VOICES[voice], out / name, Path(tmp))
            rows.append((name, voice, SENTENCES[idx]))
            print(f"[{n:3d}/{len(items)}] {name}  {SENTENCES[idx]}", flush=True)

    (out / "transcripts.tsv").write_text("".join(f"{f}\t{v}\t{t}\n" for f, v, t in rows))
    (out / "heldout.txt").write_text("".join(f"{v}_{i:03d}.flac\n" for v, i in sorted(heldout)))

    # summary
    total = 0.0
    per_voice: dict[str, list[float]] = {v: [] for v in VOICES}
    for f, v, _ in rows:
        info = subprocess.run(["soxi", "-D", str(out / f)], check=True, capture_output=True, text=True)
        d = float(info.stdout)
        per_voice[v].append(d)
        total += d
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    print(f"\n{len(rows)} files, {total:.1f} s ({total / 60:.2f} min), {size / 1e6:.2f} MB, "
          f"{len(heldout)} held out -> {out}")
    for v, ds in per_voice.items():
        n_h = sum(1 for hv, _ in heldout if hv == v)
        print(f"  {v:5s} {VOICES[v][0]:18s} -p {VOICES[v][1]:2d} -s {VOICES[v][2]:3d}: "
              f"{len(ds):3d} files ({n_h} held out), {sum(ds):6.1f} s, {min(ds):.2f}-{max(ds):.2f} s each")
    return 0


if __name__ == "__main__":
    sys.exit(main())
