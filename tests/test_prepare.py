"""vocoder-prepare on a generated corpus: every kind of good and bad file, the split, the outputs."""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from vocoder_train.cli import prepare as cli
from vocoder_train.data import prepare as prep
from vocoder_train.data import probe
from vocoder_train.data.manifest import read_manifest
from vocoder_train.data.prepare_options import PrepareError, PrepareOptions
from vocoder_train.data.split import split_key
from vocoder_train.io.audio import save_audio

# name -> (sample_rate, seconds, channels); every one is good
GOOD = {
    "a/16k mono.wav": (16000, 0.8, 1),
    "a/b/22k stereo.flac": (22050, 0.7, 2),
    "späť dir/ünïcode file.wav": (44100, 0.6, 1),
    "c/48k stereo.mp3": (48000, 0.9, 2),
    "c/d/44k.ogg": (44100, 0.8, 1),
    "top.flac": (48000, 0.6, 1),
    "long.wav": (16000, 2.0, 1),  # too_long only in runs with --max-duration 1.5
    **{f"many/f{i:02d}.wav": (16000, 0.55, 1) for i in range(8)},
}
# folder files that vocoder-prepare must reject, with the reason
BAD = {
    "bad/text.wav": "unreadable",
    "bad/zero bytes.wav": "empty",
    "bad/header only.wav": "empty",
    "bad/short.wav": "too_short",
    "bad/silence.flac": "silent",
    "bad/nan float.wav": "non_finite",
}
IGNORED = ("notes.txt", "c/readme.md", ".hidden.wav", "a/._16k mono.wav")


def tone(
    sample_rate: int, seconds: float, f0: float = 220.0, channels: int = 1, seed: int = 0
) -> torch.Tensor:
    """A tone plus a little noise: (channels, T) in [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(sample_rate * seconds)) / sample_rate
    x = 0.3 * torch.sin(2 * torch.pi * f0 * t) + 0.01 * torch.randn(t.shape, generator=g)
    return torch.stack([x * (1 - 0.2 * c) for c in range(channels)])


def write_float_wav(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    """A mono IEEE-float WAV (format tag 3): the one common format that stores NaN samples."""
    data = np.asarray(audio, dtype="<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, sample_rate, sample_rate * 4, 4, 32)
    path.write_bytes(
        b"RIFF"
        + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data))
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", len(data))
        + data
    )


def make_good(root: Path, name: str, sample_rate: int, seconds: float, channels: int, seed: int = 0) -> Path:
    p = root / name
    save_audio(p, tone(sample_rate, seconds, 150.0 + 10 * seed, channels, seed=seed), sample_rate)
    return p


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    """A corpus folder, a filelist and a JSONL manifest next to it (built once: encoding takes a while)."""
    tmp = tmp_path_factory.mktemp("prep")
    root = tmp / "corpus"
    for i, (name, spec) in enumerate(GOOD.items()):
        make_good(root, name, *spec, seed=i)
    (root / "bad").mkdir()
    (root / "bad/text.wav").write_text("this is not audio\n" * 20)
    (root / "bad/zero bytes.wav").write_bytes(b"")
    save_audio(root / "bad/header only.wav", torch.zeros(1, 0), 16000)
    save_audio(root / "bad/short.wav", tone(16000, 0.1), 16000)
    save_audio(root / "bad/silence.flac", torch.zeros(1, 16000), 16000)
    nan = tone(16000, 1.0)[0].numpy().copy()
    nan[100:150] = np.nan
    write_float_wav(root / "bad/nan float.wav", nan, 16000)
    for name in IGNORED:
        (root / name).write_text("not audio")
    extra = tmp / "extra"
    make_good(extra, "e1.wav", 24000, 0.7, 1, seed=50)
    make_good(extra, "e2.flac", 24000, 0.7, 2, seed=51)
    lists = tmp / "lists"
    lists.mkdir()
    (lists / "extra.txt").write_text(
        "# listed by hand\n../extra/e1.wav\n../corpus/top.flac\nmissing.wav\n../corpus/notes.txt\n",
        encoding="utf-8",
    )
    (lists / "more.jsonl").write_text(json.dumps({"path": str(extra / "e2.flac"), "duration": 0.7}) + "\n")
    return dict(tmp=tmp, root=root, extra=extra, lists=lists)


def expected(c: dict) -> tuple[set[str], dict[str, str]]:
    """(good paths, {rejected path: reason}) for a run on corpus + extra.txt + more.jsonl, max 1.5 s."""
    root, extra, lists = c["root"], c["extra"], c["lists"]
    good = {str(root / n) for n in GOOD if n != "long.wav"} | {str(extra / "e1.wav"), str(extra / "e2.flac")}
    bad = {str(root / n): r for n, r in BAD.items()}
    bad[str(root / "long.wav")] = "too_long"
    bad[str(lists / "missing.wav")] = "unreadable"
    bad[str(root / "notes.txt")] = "unreadable"
    return good, bad


def run(c: dict, out: Path, *extra_args: str, inputs=None) -> int:
    inputs = inputs or [str(c["root"]), str(c["lists"] / "extra.txt"), str(c["lists"] / "more.jsonl")]
    return cli.main([*inputs, "--output", str(out), "--max-duration", "1.5", "--no-progress", *extra_args])


def snapshot(folder: Path) -> dict[str, tuple]:
    return {
        str(p.relative_to(folder)): (
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_mtime_ns,
            p.stat().st_size,
        )
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def first_run(corpus) -> dict:
    """One run with the default split; the corpus is hashed before and after it."""

    def corpus_state() -> dict:
        return {name: snapshot(corpus[name]) for name in ("root", "extra", "lists")}

    before = corpus_state()
    out = corpus["tmp"] / "out1"
    assert run(corpus, out) == 0
    return dict(out=out, before=before, after=corpus_state())


def test_every_file_is_sorted_with_the_right_reason(corpus, first_run):
    out = first_run["out"]
    good, bad = expected(corpus)
    train, val = read_manifest(out / "train.jsonl"), read_manifest(out / "val.jsonl")
    assert {x["path"] for x in train + val} == good
    assert len(train) + len(val) == len(good)
    rejected = [
        json.loads(line) for line in (out / "rejected.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    reasons = {x["path"]: x["reason"] for x in rejected if x["reason"] != "duplicate"}
    assert reasons == bad
    dup = [x for x in rejected if x["reason"] == "duplicate"]
    assert [x["path"] for x in dup] == [str(corpus["root"] / "top.flac")]
    assert all(x["message"] for x in rejected)
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    # notes.txt is ignored in the folder scan but rejected where the filelist names it
    assert report["totals"]["ignored"] == len(IGNORED)
    assert report["rejected"]["by_reason"] == dict(
        unreadable=3,
        empty=2,
        too_short=1,
        too_long=1,
        non_finite=1,
        silent=1,
        low_bandwidth=0,
        clipped=0,
        too_quiet=0,
        duplicate=1,
    )


def test_manifest_fields_match_the_files(corpus, first_run):
    items = {
        x["path"]: x
        for x in read_manifest(first_run["out"] / "train.jsonl")
        + read_manifest(first_run["out"] / "val.jsonl")
    }
    for name, (sr, seconds, ch) in GOOD.items():
        if name == "long.wav":
            continue
        item = items[str(corpus["root"] / name)]
        assert set(item) == {"path", "sample_rate", "num_channels", "num_frames", "duration"}
        assert (item["sample_rate"], item["num_channels"]) == (sr, ch), name
        assert item["duration"] == pytest.approx(seconds, abs=0.03), name  # mp3/ogg: encoder padding
        if name.endswith((".wav", ".flac")):
            assert item["num_frames"] == int(sr * seconds)


def test_corpus_is_untouched(first_run):
    # same files, same bytes, same mtimes: nothing written, added or touched in the corpus or the lists
    assert first_run["after"] == first_run["before"]
    assert len(first_run["before"]["root"]) == len(GOOD) + len(BAD) + len(IGNORED)


def test_reports_are_written(corpus, first_run):
    out = first_run["out"]
    names = [
        "train.jsonl",
        "val.jsonl",
        "rejected.jsonl",
        "report.json",
        "report.md",
        "duration_histogram.png",
    ]
    for name in names:
        assert (out / name).stat().st_size > 0, name
    assert sorted(p.name for p in out.iterdir()) == sorted(names)  # no temporary files left behind
    assert (out / "duration_histogram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    good, _ = expected(corpus)
    assert report["totals"]["good"] == len(good)
    assert report["splits"]["train"]["files"] + report["splits"]["val"]["files"] == len(good)
    assert report["sample_rates"]["16000"]["files"] == 9
    assert {"22050", "24000", "44100", "48000"} <= set(report["sample_rates"])
    assert sum(r["files"] for r in report["duration_histogram"]) == len(good)
    assert len(report["below_sample_rate"]) == 10  # 9 x 16 kHz + 22.05 kHz
    md = (out / "report.md").read_text(encoding="utf-8")
    for text in (
        "Sample rates",
        "Durations",
        "Rejected files",
        "non_finite",
        "below the training rate",
        "16k mono.wav",
    ):
        assert text in md


def test_split_is_deterministic_parallel_and_stable(corpus, first_run, tmp_path):
    out1 = first_run["out"]
    # a second run, with a process pool, writes byte-identical manifests
    assert run(corpus, tmp_path / "out2", "--workers", "2") == 0
    for name in ("train.jsonl", "val.jsonl", "rejected.jsonl"):
        assert (tmp_path / "out2" / name).read_bytes() == (out1 / name).read_bytes(), name
    r1, r2 = (json.loads((d / "report.json").read_text(encoding="utf-8")) for d in (out1, tmp_path / "out2"))
    assert r1.pop("output") != r2.pop("output") and r1 == r2
    # adding files moves none of the others
    grown = tmp_path / "grown"
    for p in corpus["root"].rglob("*"):
        if p.is_file():
            (grown / p.relative_to(corpus["root"])).parent.mkdir(parents=True, exist_ok=True)
            (grown / p.relative_to(corpus["root"])).write_bytes(p.read_bytes())
    for i in range(4):
        make_good(grown, f"new/n{i}.wav", 16000, 0.6, 1, seed=90 + i)
    args = ["--val-fraction", "0.3", "--no-progress"]
    assert cli.main([str(corpus["root"]), "--output", str(tmp_path / "s1"), *args]) == 0
    assert cli.main([str(grown), "--output", str(tmp_path / "s2"), *args]) == 0

    def assignment(out: Path, root: Path) -> dict[str, str]:
        return {
            os.path.relpath(x["path"], root): split
            for split in ("train", "val")
            for x in read_manifest(out / f"{split}.jsonl")
        }

    a1, a2 = assignment(tmp_path / "s1", corpus["root"]), assignment(tmp_path / "s2", grown)
    assert 0 < list(a1.values()).count("val") < len(a1)
    assert {k: a2[k] for k in a1} == a1
    assert len(a2) == len(a1) + 4


def test_at_least_one_val_file(make_corpus, tmp_path):
    paths = make_corpus([("x.wav", 16000, 0.6, 1), ("y.wav", 16000, 0.6, 1)], "two")
    assert (
        cli.main(
            [
                str(paths[0].parent),
                "--output",
                str(tmp_path / "o"),
                "--val-fraction",
                "0.001",
                "--no-progress",
            ]
        )
        == 0
    )
    assert len(read_manifest(tmp_path / "o" / "val.jsonl")) == 1
    assert len(read_manifest(tmp_path / "o" / "train.jsonl")) == 1


def test_val_list_by_name_and_by_path(corpus, tmp_path):
    vl = tmp_path / "val.txt"
    rel = os.path.relpath(corpus["root"] / "a/16k mono.wav", tmp_path)
    vl.write_text(f"ünïcode file.wav\n{rel}\nnot-there.wav\n", encoding="utf-8")
    assert run(corpus, tmp_path / "o", "--val-list", str(vl)) == 0
    val = {x["path"] for x in read_manifest(tmp_path / "o" / "val.jsonl")}
    assert val == {str(corpus["root"] / "späť dir/ünïcode file.wav"), str(corpus["root"] / "a/16k mono.wav")}
    report = json.loads((tmp_path / "o" / "report.json").read_text(encoding="utf-8"))
    assert any("not-there.wav" in w for w in report["warnings"])
    # a previous val.jsonl is a valid --val-list and reproduces the split
    assert run(corpus, tmp_path / "o2", "--val-list", str(tmp_path / "o" / "val.jsonl")) == 0
    assert (tmp_path / "o2" / "val.jsonl").read_bytes() == (tmp_path / "o" / "val.jsonl").read_bytes()


@pytest.mark.parametrize("name", ["long.wav", "c/48k stereo.mp3", "c/d/44k.ogg"])
def test_chunked_decode_measures_the_same(corpus, monkeypatch, name):
    path = str(corpus["root"] / name)
    whole = probe.measure(path)
    monkeypatch.setattr(probe, "CHUNK_SECONDS", 0.3)  # long files are decoded in chunks of this many seconds
    chunked = probe.measure(path)
    assert chunked.error is None and chunked.num_frames == whole.num_frames
    assert chunked.peak_db == pytest.approx(whole.peak_db)
    assert chunked.rms_db == pytest.approx(whole.rms_db)


def test_max_duration_none():
    assert cli.build_parser().parse_args(["x", "-o", "y", "--max-duration", "none"]).max_duration is None
    assert cli.build_parser().parse_args(["x", "-o", "y", "--max-duration", "30"]).max_duration == 30.0


def test_help(capsys):
    assert cli.main(["--help"]) == 0
    text = capsys.readouterr().out
    for flag in (
        "--output",
        "--val-fraction",
        "--val-list",
        "--min-duration",
        "--max-duration",
        "--seed",
        "--sample-rate",
        "--workers",
        "examples:",
        "non_finite",
    ):
        assert flag in text


def test_errors_exit_2_and_name_the_path(tmp_path, capsys):
    empty = tmp_path / "empty corpus"
    empty.mkdir()
    (empty / "readme.txt").write_text("no audio here")
    assert cli.main([str(empty), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(empty) in err and "no audio files" in err
    assert not (tmp_path / "o").exists()
    assert cli.main([str(tmp_path / "nope"), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(tmp_path / "nope") in err
    assert cli.main([str(empty)]) == 2  # --output is required
    (tmp_path / "a file").write_text("")
    assert cli.main([str(empty), "--output", str(tmp_path / "a file" / "out")]) == 2
    assert "a file" in capsys.readouterr().err
    # files that are all bad: exit 2 and say why
    (empty / "text.wav").write_text("not audio")
    assert cli.main([str(empty), "--output", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "unreadable: 1" in err and "text.wav" in err


# -- --mels: teacher-forced pairs ---------------------------------------------------------------


def test_prepare_pairs_mels_and_rejects_those_that_do_not_fit(tmp_path):
    """Good mels (exact, off by one) are paired; missing, unreadable, wrong-bins, off-by-ten are rejected."""
    from vocoder_train.data.pair_dataset import resampled_length
    from vocoder_train.dsp import expected_frames

    root, mels = tmp_path / "corpus", tmp_path / "mels"
    (mels / "sub").mkdir(parents=True)
    hop, n_mels = 64, 16
    names = ["ok", "sub/nested", "off1", "gone", "junk", "bins", "off10"]
    for i, name in enumerate(names):
        make_good(root, f"{name}.wav", 22050, 0.6, 1, seed=i)
    frames = expected_frames(resampled_length(int(22050 * 0.6), 22050, 16000), hop, 1024)
    np.save(mels / "ok.npy", np.zeros((n_mels, frames), np.float32))
    np.save(mels / "sub/nested.npy", np.zeros((1, n_mels, frames), np.float32))
    np.save(mels / "off1.npy", np.zeros((n_mels, frames - 1), np.float32))
    (mels / "junk.npy").write_text("not numpy")
    np.save(mels / "bins.npy", np.zeros((n_mels + 4, frames), np.float32))
    np.save(mels / "off10.npy", np.zeros((n_mels, frames + 10), np.float32))
    opts = PrepareOptions(
        val_fraction=0.3, sample_rate=16000, mels=str(mels), hop_length=hop, n_mels=n_mels, progress=False
    )
    res = prep.prepare([root], tmp_path / "out", opts)
    items = read_manifest(tmp_path / "out" / "train.jsonl") + read_manifest(tmp_path / "out" / "val.jsonl")
    paired = {Path(x["path"]).stem: x for x in items}
    assert set(paired) == {"ok", "nested", "off1"}
    assert paired["nested"]["mel"] == str((mels / "sub/nested.npy").resolve())
    assert paired["off1"]["mel_frames"] == frames - 1
    why = {Path(x["path"]).stem: x for x in res.rejected}
    assert {k: v["reason"] for k, v in why.items()} == dict(
        gone="mel_missing", junk="mel_unreadable", bins="mel_bins", off10="mel_frames"
    )
    assert (
        f"{frames + 10} mel frames" in why["off10"]["message"]
        and f"gives {frames} frames" in why["off10"]["message"]
    )
    assert res.report["rejected"]["by_reason"]["mel_frames"] == 1
    assert res.report["settings"]["hop_length"] == hop


def test_prepare_mels_cli_options(tmp_path):
    make_good(tmp_path / "c", "a.wav", 16000, 0.6, 1)
    assert (
        cli.main(
            [
                str(tmp_path / "c"),
                "-o",
                str(tmp_path / "o"),
                "--mels",
                str(tmp_path / "nope"),
                "--no-progress",
            ]
        )
        == 2
    )
    (tmp_path / "m").mkdir()
    np.save(tmp_path / "m" / "a.npy", np.zeros((100, 9600 // 256 + 1), np.float32))
    assert (
        cli.main(
            [
                str(tmp_path / "c"),
                "-o",
                str(tmp_path / "o"),
                "--mels",
                str(tmp_path / "m"),
                "--sample-rate",
                "16000",
                "--no-progress",
            ]
        )
        == 0
    )
    assert "mel" in read_manifest(tmp_path / "o" / "train.jsonl")[0]


def test_prepare_mels_on_the_causal_frame_grid(tmp_path, capsys):
    """--mel-padding causal (model/generator=vocos_causal): the causal count fits exactly, the centred one
    does not; an unknown padding fails before any work, naming the choices."""
    from vocoder_train.dsp import expected_frames

    make_good(tmp_path / "c", "a.wav", 16000, 0.6, 1)
    hop, n_fft, samples = 64, 256, 9600
    causal, center = (expected_frames(samples, hop, n_fft, p) for p in ("causal", "center"))
    assert causal == center + 2
    for frames, padding, kept in (
        (causal, "causal", True),
        (center, "causal", False),
        (center, "center", True),
    ):
        mels = tmp_path / f"m{frames}{padding}"
        mels.mkdir()
        np.save(mels / "a.npy", np.zeros((16, frames), np.float32))
        out = tmp_path / f"o{frames}{padding}"
        opts = PrepareOptions(
            val_fraction=0.3,
            sample_rate=16000,
            mels=str(mels),
            hop_length=hop,
            n_fft=n_fft,
            n_mels=16,
            mel_padding=padding,
            max_frame_mismatch=0,
            progress=False,
        )
        if kept:
            assert not prep.prepare([tmp_path / "c"], out, opts).rejected
        else:  # the only file rejected: the error names it, its mel, both counts and what to check
            with pytest.raises(
                PrepareError,
                match=rf"a\.wav with .*a\.npy: {center} mel frames, but .* gives "
                rf"{causal} frames .*--mel-padding",
            ):
                prep.prepare([tmp_path / "c"], out, opts)
    assert (
        cli.main(
            [
                str(tmp_path / "c"),
                "-o",
                str(tmp_path / "o"),
                "--mels",
                str(mels),
                "--mel-padding",
                "diagonal",
                "--no-progress",
            ]
        )
        == 2
    )
    assert "--mel-padding diagonal: must be one of same, center, causal" in capsys.readouterr().err


# -- content duplicates, the corpus's own split, --val-list DIR ----------------------------------


def manifest_paths(out: Path, split: str) -> set[str]:
    return {x["path"] for x in read_manifest(out / f"{split}.jsonl")}


@pytest.mark.parametrize("workers", ["1", "2"])
def test_byte_identical_copy_under_another_name_is_a_duplicate(tmp_path, workers):
    root = tmp_path / "corpus"
    for i in range(4):
        make_good(root, f"a/f{i}.wav", 16000, 0.6, 1, seed=i)
    (root / "b").mkdir()
    (root / "b/renamed copy.wav").write_bytes((root / "a/f1.wav").read_bytes())
    (root / "b/zero1.wav").write_bytes(b"")
    (root / "b/zero2.wav").write_bytes(b"")  # equal bytes, but empty is what is wrong with them
    out = tmp_path / "o"
    assert cli.main([str(root), "-o", str(out), "--no-progress", "--workers", workers]) == 0
    originals = {str(root / f"a/f{i}.wav") for i in range(4)}
    assert manifest_paths(out, "train") | manifest_paths(out, "val") == originals
    rejected = read_manifest(out / "rejected.jsonl")
    assert {x["path"]: x["reason"] for x in rejected} == {
        str(root / "b/renamed copy.wav"): "duplicate",
        str(root / "b/zero1.wav"): "empty",
        str(root / "b/zero2.wav"): "empty",
    }
    dup = next(x for x in rejected if x["reason"] == "duplicate")
    assert str(root / "a/f1.wav") in dup["message"] and dup["duplicate_of"] == str(root / "a/f1.wav")
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["rejected"]["by_reason"]["duplicate"] == 1
    # the first occurrence in input order wins, whatever its name
    out2 = tmp_path / "o2"
    assert (
        cli.main(
            [
                str(root / "b/renamed copy.wav"),
                str(root / "a"),
                "-o",
                str(out2),
                "--no-progress",
                "--workers",
                workers,
            ]
        )
        == 0
    )
    dup = [x for x in read_manifest(out2 / "rejected.jsonl") if x["reason"] == "duplicate"]
    expected_dup = (str(root / "a/f1.wav"), str(root / "b/renamed copy.wav"))
    assert [(x["path"], x["duplicate_of"]) for x in dup] == [expected_dup]


def test_content_digest_streams_the_file(tmp_path, monkeypatch):
    p = tmp_path / "x.bin"
    p.write_bytes(bytes(range(256)) * 100)
    monkeypatch.setattr(probe, "DIGEST_CHUNK_BYTES", 1000)  # many chunks, one digest
    assert probe.content_digest(str(p)) == hashlib.blake2b(p.read_bytes(), digest_size=20).hexdigest()


@pytest.fixture(scope="module")
def split_corpus(tmp_path_factory) -> dict:
    """A corpus that ships its own split: train/ (8 files), val/ (4), test/ (2), and loose.wav."""
    root = tmp_path_factory.mktemp("own") / "corpus"
    files = {
        "train": [f"train/t{i}.wav" for i in range(8)],
        "val": [f"val/spk/v{i}.wav" for i in range(4)],
        "test": ["test/h0.wav", "test/h1.wav"],
        "loose": ["loose.wav"],
    }
    for i, name in enumerate(n for names in files.values() for n in names):
        make_good(root, name, 16000, 0.6, 1, seed=100 + i)
    return dict(root=root, **{k: {str(root / n) for n in v} for k, v in files.items()})


def test_corpus_own_split_folders_are_honoured(split_corpus, tmp_path, capsys):
    c, out = split_corpus, tmp_path / "o"
    assert cli.main([str(c["root"]), "-o", str(out), "--no-progress"]) == 0
    assert manifest_paths(out, "val") == c["val"]
    assert manifest_paths(out, "train") - c["loose"] == c["train"]  # loose.wav: in no split folder, hashed
    assert (out / "rejected.jsonl").read_text() == ""  # test/ is held out, not rejected
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["totals"]["held_out"] == 2 and report["split"]["method"] == "corpus"
    lines = [line for line in capsys.readouterr().out.splitlines() if "own split" in line]
    assert len(lines) == 1 and "val/" in lines[0] and "test/" in lines[0] and "held out" in lines[0]


def test_corpus_split_accepts_dev_and_validation_names(tmp_path):
    root = tmp_path / "corpus"
    for name in ("train/a.wav", "train/b.wav", "train/c.wav", "dev/d.wav", "validation/e.wav"):
        make_good(root, name, 16000, 0.6, 1, seed=len(name) + ord(name[-5]))
    assert cli.main([str(root), "-o", str(tmp_path / "o"), "--no-progress"]) == 0
    assert manifest_paths(tmp_path / "o", "val") == {str(root / "dev/d.wav"), str(root / "validation/e.wav")}


def test_explicit_val_fraction_or_val_list_overrides_the_corpus_split(split_corpus, tmp_path, capsys):
    c = split_corpus
    assert (
        cli.main([str(c["root"]), "-o", str(tmp_path / "h"), "--no-progress", "--val-fraction", "0.3"]) == 0
    )
    val, train = manifest_paths(tmp_path / "h", "val"), manifest_paths(tmp_path / "h", "train")
    kept = c["train"] | c["val"] | c["loose"]
    assert val | train == kept  # test/ stays held out
    assert val == {p for p in kept if split_key(p, str(c["root"]), 0) < 0.3}
    assert "own split" not in capsys.readouterr().out
    vl = tmp_path / "v.txt"
    vl.write_text("t0.wav\n", encoding="utf-8")
    assert cli.main([str(c["root"]), "-o", str(tmp_path / "l"), "--no-progress", "--val-list", str(vl)]) == 0
    assert manifest_paths(tmp_path / "l", "val") == {str(c["root"] / "train/t0.wav")}


@pytest.mark.parametrize("inputs", [["train"], ["."], ["train", "val"]])
def test_val_list_folder_is_scanned_and_is_the_validation_set(split_corpus, tmp_path, inputs):
    c = split_corpus
    out = tmp_path / "o"
    args = [str(c["root"] / i) for i in inputs]
    assert cli.main([*args, "-o", str(out), "--no-progress", "--val-list", str(c["root"] / "val")]) == 0
    assert manifest_paths(out, "val") == c["val"]
    assert manifest_paths(out, "train") == c["train"] | (c["loose"] if inputs == ["."] else set())
    assert (out / "rejected.jsonl").read_text() == ""  # a val file named twice is no duplicate


def test_val_list_errors_name_the_path(split_corpus, tmp_path, capsys):
    train, out = str(split_corpus["root"] / "train"), str(tmp_path / "o")
    assert cli.main([train, "-o", out, "--val-list", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "nope") in err and "folder of validation audio" in err
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty/readme.txt").write_text("no audio")
    assert cli.main([train, "-o", out, "--val-list", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "empty") in err and "no audio files" in err
    val = str(split_corpus["root"] / "val")
    assert cli.main([val, "-o", out, "--no-progress", "--val-list", val]) == 2
    assert "none is left for training" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
