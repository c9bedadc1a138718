"""Audio I/O and the dataset: rates, channels, formats, crops, determinism, bad files."""

from __future__ import annotations

import json
import math

import pytest
import torch

from tests.helpers.audio import tone
from vocoder_train.data.dataset import AudioDataset
from vocoder_train.data.manifest import ManifestError, read_manifest
from vocoder_train.io.audio import AudioReadError, load_audio, probe, resample, save_audio


@pytest.mark.parametrize("ext", ["wav", "flac", "mp3", "ogg"])
@pytest.mark.parametrize("sr, channels", [(16000, 1), (22050, 2), (44100, 2), (48000, 1)])
def test_load_any_format_rate_and_channels(tmp_path, ext, sr, channels):
    p = tmp_path / f"x.{ext}"
    save_audio(p, tone(sr, 0.5, 200.0, channels), sr)
    info = probe(p)
    assert info.sample_rate == sr and info.num_channels == channels
    audio, out_sr = load_audio(p, sample_rate=24000)
    assert out_sr == 24000 and audio.shape[0] == 1
    assert abs(audio.shape[1] - 12000) <= 0.03 * 12000 + 1200  # lossy codecs pad a little
    assert torch.isfinite(audio).all() and audio.abs().max() > 0.1


def test_partial_read_equals_slice_of_full_read(tmp_path):
    sr = 22050
    save_audio(tmp_path / "a.wav", tone(sr, 2.0), sr)
    full, _ = load_audio(tmp_path / "a.wav")
    part, _ = load_audio(tmp_path / "a.wav", offset=0.5, duration=0.25)
    start = int(0.5 * sr)
    assert abs(part.shape[1] - 0.25 * sr) <= 1
    torch.testing.assert_close(part, full[:, start : start + part.shape[1]])


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT", "PCM_U8", "ULAW", "IMA_ADPCM"])
def test_wav_fast_path_equals_ffmpeg_decoding(tmp_path, subtype):
    """PCM/float WAV goes through torchcodec's WavDecoder, other codings through FFmpeg: same samples."""
    sf = pytest.importorskip("soundfile")
    from torchcodec.decoders import AudioDecoder

    from vocoder_train.io.audio import _decoder

    sr, p = 44100, tmp_path / "x.wav"
    sf.write(p, tone(sr, 1.0, 300.0, 2).T.numpy() * 0.5, sr, subtype=subtype)
    fast = subtype in ("PCM_16", "PCM_24", "FLOAT", "PCM_U8")
    assert (type(_decoder(p)).__name__ == "WavDecoder") == fast
    ref = AudioDecoder(str(p)).get_all_samples().data
    full, out_sr = load_audio(p, mono=False)
    assert out_sr == sr
    torch.testing.assert_close(full, ref, rtol=0, atol=0)
    part, _ = load_audio(p, offset=0.25, duration=0.5, mono=False)
    part_ref = AudioDecoder(str(p)).get_samples_played_in_range(start_seconds=0.25, stop_seconds=0.75).data
    torch.testing.assert_close(part, part_ref, rtol=0, atol=0)
    assert probe(p).num_frames == pytest.approx(sr, abs=2 if fast else 1024)  # ADPCM pads whole blocks


def test_truncated_wav_error_names_it(tmp_path):
    good = tmp_path / "good.wav"
    save_audio(good, tone(16000, 1.0), 16000)
    bad = tmp_path / "cut.wav"
    bad.write_bytes(good.read_bytes()[:30])  # header cut in the middle
    with pytest.raises(AudioReadError, match="cut.wav"):
        load_audio(bad)


def test_resampling_keeps_tones_clean():
    """44.1 -> 24 kHz: SNR >= 60 dB for tones below 0.9 x the new Nyquist (issue: default kernel ~27 dB)."""
    orig, new = 44100, 24000
    t_in = torch.arange(orig, dtype=torch.float64) / orig  # float64 time axis: exact reference phases
    t_out = torch.arange(new, dtype=torch.float64) / new
    for f in (440.0, 4000.0, 9000.0, 10500.0):
        y = resample(torch.sin(2 * math.pi * f * t_in).float().unsqueeze(0), orig, new)[0].double()
        ref = torch.sin(2 * math.pi * f * t_out)
        core = slice(2000, new - 2000)  # ignore the filter's edge transients
        err = y[core] - ref[core]
        snr = 10 * torch.log10(ref[core].pow(2).sum() / err.pow(2).sum())
        assert snr > 60, f"{f} Hz: SNR {snr:.1f} dB"  # measured 111-131 dB


def test_unreadable_file_error_names_it(tmp_path):
    bad = tmp_path / "not audio.wav"
    bad.write_text("hello")
    with pytest.raises(AudioReadError, match="not audio.wav"):
        load_audio(bad)
    with pytest.raises(AudioReadError, match="no such file"):
        load_audio(tmp_path / "missing.flac")


def test_manifest_filelist_and_folder(tmp_path, make_corpus):
    paths = make_corpus([("a.wav", 16000, 0.3, 1), ("sub dir/b ü.flac", 16000, 0.3, 1)])
    (tmp_path / "list.txt").write_text("corpus/a.wav\n# comment\n\ncorpus/sub dir/b ü.flac|text\n")
    (tmp_path / "m.jsonl").write_text(json.dumps({"path": str(paths[0]), "sample_rate": 16000}) + "\n")
    assert [i["path"] for i in read_manifest(tmp_path / "list.txt")] == [str(p) for p in paths]
    assert [i["path"] for i in read_manifest(tmp_path / "corpus")] == [str(p) for p in paths]
    assert read_manifest(tmp_path / "m.jsonl")[0]["sample_rate"] == 16000
    (tmp_path / "broken.jsonl").write_text('{"path": 1\n')
    with pytest.raises(ManifestError, match="broken.jsonl:1"):
        read_manifest(tmp_path / "broken.jsonl")


def _items(paths, sr=None):
    out = []
    for p in paths:
        info = probe(p)
        out.append({"path": str(p), "sample_rate": info.sample_rate, "duration": info.duration})
    return out


@pytest.mark.parametrize("segment", [1000, 4096, 40000])
def test_train_items_have_the_segment_length_and_gain(make_corpus, segment):
    paths = make_corpus([("a.wav", 44100, 1.0, 2), ("b.flac", 16000, 0.2, 1)])
    ds = AudioDataset(_items(paths), 24000, segment, train=True, gain_db=(-6.0, -1.0))
    torch.manual_seed(0)
    for i in range(len(ds)):
        for _ in range(3):
            item = ds[i]
            peak_db = 20 * math.log10(item["audio"].abs().max().item())
            assert item["audio"].shape == (segment,) and item["skipped"] == 0
            assert -6.01 <= peak_db <= -0.99


def test_short_file_is_repeat_padded(make_corpus):
    (p,) = make_corpus([("short.wav", 16000, 0.1, 1)])
    ds = AudioDataset([{"path": str(p)}], 16000, 4000, train=True)
    audio = ds[0]["audio"]
    torch.testing.assert_close(audio[1600:3200], audio[:1600])  # 0.1 s = 1600 samples, repeated


def test_validation_items_are_deterministic(make_corpus):
    paths = make_corpus([("a.wav", 22050, 1.0, 1), ("b.wav", 16000, 0.3, 1)])
    a = AudioDataset(_items(paths), 24000, 12000, train=False)
    b = AudioDataset([{"path": str(p)} for p in paths], 24000, 12000, train=False, partial_reads=False)
    for i in range(2):
        x, y = a[i]["audio"], b[i]["audio"]
        assert x.shape == (12000,)
        torch.testing.assert_close(x, a[i]["audio"])
        torch.testing.assert_close(x[:6000], y[:6000], atol=2e-3, rtol=0)  # partial vs whole-file read
    assert a[1]["audio"][7300:].abs().max() == 0  # 0.3 s at 24 kHz = 7200 samples, then zeros


def test_partial_read_crops_match_whole_file_statistics(make_corpus):
    paths = make_corpus([("long.wav", 44100, 3.0, 1)])
    ds = AudioDataset(_items(paths), 24000, 8192, train=True)
    torch.manual_seed(1)
    crops = [ds[0]["audio"] for _ in range(4)]
    assert all(c.shape == (8192,) for c in crops)
    assert not torch.allclose(crops[0], crops[1])  # random positions


def test_bad_files_are_skipped_and_counted(tmp_path, make_corpus):
    good = make_corpus([("good.wav", 16000, 0.5, 1)])
    (tmp_path / "bad.wav").write_text("not audio")
    nan = tmp_path / "nan.wav"
    save_audio(nan, torch.zeros(1, 8000), 16000)
    items = [
        {"path": str(tmp_path / "bad.wav")},
        {"path": str(tmp_path / "gone.wav")},
        {"path": str(good[0])},
    ]
    ds = AudioDataset(items, 16000, 2000, train=True)
    torch.manual_seed(0)
    item = ds[0]
    assert item["skipped"] >= 1 and item["skipped_path"].endswith("bad.wav")
    assert item["audio"].shape == (2000,) and torch.isfinite(item["audio"]).all()
    assert ds[2]["skipped"] == 0
