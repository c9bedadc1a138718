"""The EnCodec Vocos (experiment=vocos_encodec_24khz): the step against vocos' own, training with
per-bandwidth validation, the vocos folder upstream decodes, codes in, and the errors before any work."""

from __future__ import annotations

import pytest
import torch

from tests.helpers.codec import encodec_file


def _states(*modules) -> list[dict]:
    return [{k: v.clone() for k, v in m.state_dict().items()} for m in modules]


@pytest.mark.slow
def test_first_iteration_losses_equal_upstream_encodec_step_per_bandwidth():
    """From the same weights and batch, each bandwidth id gives vocos' VocosEncodecExp losses (its
    generator and conditioned MPD/MRD rebuilt from vocos' modules, EnCodec from torch hub's cache)."""
    from benchmarks.harness import Options
    from benchmarks.ours import build_ours, ours_step, quiet_lightning
    from benchmarks.upstream import TERMS, UpstreamStep, make_batches
    from vocoder_train.models.codec import random_encodec, torch_home_with_codec

    quiet_lightning()
    with torch_home_with_codec(random_encodec(0)):  # EnCodec where vocos and codec.path find it
        peer = UpstreamStep(seed=0, encodec=True)
        g = torch.Generator().manual_seed(1)
        for d in [
            *peer.mpd.discriminators,
            *peer.mrd.discriminators,
        ]:  # zero at the start: set, so ids differ
            d.emb.weight.data.normal_(0, 0.1, generator=g)
        start = _states(peer.gen, peer.mpd, peer.mrd)
        ours = build_ours(peer, ["model.optim.total_iterations=1000"])
    ours_start = _states(ours)
    audio = make_batches(1, 1, 4800, seed=3)[0]
    seen = set()
    for bandwidth_id in range(4):
        for m, state in zip((peer.gen, peer.mpd, peer.mrd), start):
            m.load_state_dict(state)
        peer.reset_optimizers()
        ours.load_state_dict(ours_start[0])
        ours.reset_optimizers()
        _, got = ours_step(ours, audio, "fp32", Options(), condition=bandwidth_id)
        want = peer.step(audio, "fp32", bandwidth_id=bandwidth_id)
        for term in TERMS:
            assert got[term] == pytest.approx(want[term], rel=1e-4, abs=1e-6), (bandwidth_id, term)
        seen.add(round(want["g_mel"], 6))
    assert len(seen) == 4  # four bandwidths, four different reconstructions


def _compose(tmp_path, tiny_corpus, *overrides, experiment="vocos_encodec_24khz"):
    from tests.helpers.codec import encodec_overrides, tiny_run
    from tests.helpers.training import compose_train

    base = encodec_overrides(encodec_file(tmp_path / "codec"), experiment) + tiny_run(tiny_corpus)
    base += ["data.val_segment_length=9600", "trainer.val_check_interval=2"]
    return compose_train(base + list(overrides))


@pytest.mark.slow
def test_trains_resumes_validates_each_bandwidth_and_exports_a_folder_upstream_decodes(
    tmp_path, tiny_corpus, monkeypatch, capsys
):
    import csv
    from pathlib import Path

    from vocos import Vocos

    from vocoder_train.io.checkpoint import load_checkpoint
    from vocoder_train.models.codec import ENCODEC_FILE
    from vocoder_train.models.export import export
    from vocoder_train.models.vocoder import load_vocoder
    from vocoder_train.training.finetune import apply_init
    from vocoder_train.training.run import build_module, check_run_config, train

    cfg = _compose(tmp_path, tiny_corpus, "trainer.max_steps=4")
    train(cfg)
    run = Path(cfg.paths.output_dir)
    ckpt = run / "checkpoints" / "last.ckpt"
    assert load_checkpoint(ckpt)["global_step"] == 4
    rows = list(csv.DictReader(open(next(run.glob("csv/version_*/metrics.csv")))))
    logged = {k for r in rows for k, v in r.items() if v}
    labels = ("1.5kbps", "3kbps", "6kbps", "12kbps")
    assert {f"val/mel_l1@{b}" for b in labels} <= logged and "val/mel_l1" in logged
    last = [r for r in rows if r.get("val/mel_l1")][-1]
    per = [float(last[f"val/mel_l1@{b}"]) for b in labels]
    assert float(last["val/mel_l1"]) == pytest.approx(sum(per) / 4, rel=1e-5)  # the checkpoint metric
    assert len(set(per)) == 4
    assert list(run.glob("csv/version_*/media/val/audio_0/codec_decoder/step_*.wav"))  # EnCodec's own decode

    train(_compose(tmp_path, tiny_corpus, "trainer.max_steps=6"))  # resume=auto: continues from last.ckpt
    assert load_checkpoint(ckpt)["global_step"] == 6

    out = tmp_path / "exported"
    result = export(ckpt, out, "vocos")
    assert result.max_abs_diff <= 1e-5
    assert not any(k.startswith("feature_extractor.encodec.") for k in torch.load(out / "pytorch_model.bin"))

    assert export(ckpt, tmp_path / "st", "safetensors").max_abs_diff <= 1e-5  # keeps the codec's weights

    # the graph formats: features + bandwidth_id in, the codec beside the graph; codes decode through it
    onnx_result = export(ckpt, tmp_path / "onnx", "onnx")
    assert onnx_result.max_abs_diff <= 1e-4 and "codec.safetensors" in onnx_result.files
    from vocoder_train.models.vocoder import load_vocoder as load

    graph, eager = load(tmp_path / "onnx"), load(ckpt, engine="eager")
    codes = torch.randint(0, 1024, (4, 30), generator=torch.Generator().manual_seed(0))
    for v in (graph, eager):
        v.set_bandwidth(3.0)
    got, want = (v.decode(v.codes_to_features(codes)) for v in (graph, eager))
    assert (got - want).abs().max() <= 1e-4

    # fine-tune from the vocos folder: no codec weights in it, codec.path gives them
    ft = _compose(tmp_path, tiny_corpus, f"init.path={out}", experiment="finetune_encodec")
    check_run_config(ft)
    tuned = build_module(ft)
    apply_init(tuned, ft.init, ft.model.generator)
    tuned.train()  # as Lightning does every epoch: the frozen codec stays in eval mode
    assert tuned.generator.backbone.training and not tuned.generator.feature_extractor.encodec.training
    exported = torch.load(out / "pytorch_model.bin", weights_only=True)
    own = tuned.generator.state_dict()
    assert all(torch.equal(own[k], v) for k, v in exported.items() if k in own)
    assert sum(k in own for k in exported) > 20

    # as a user of upstream vocos: the codec file in torch hub's cache, from_pretrained's recipe
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / ENCODEC_FILE).write_bytes((tmp_path / "codec" / ENCODEC_FILE).read_bytes())
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    upstream = Vocos.from_hparams(str(out / "config.yaml"))
    state = torch.load(out / "pytorch_model.bin", weights_only=True)
    state.update(
        {
            f"feature_extractor.encodec.{k}": v
            for k, v in upstream.feature_extractor.encodec.state_dict().items()
        }
    )
    upstream.load_state_dict(state)
    upstream.eval()
    ours = load_vocoder(ckpt, engine="eager")
    audio = 0.1 * torch.randn(1, 9600, generator=torch.Generator().manual_seed(0))
    for i, kbps in enumerate((1.5, 3.0, 6.0, 12.0)):
        ours.set_bandwidth(kbps)
        theirs = upstream(audio, bandwidth_id=torch.tensor([i]))
        assert (ours.copy_synthesis(audio) - theirs).abs().max() <= 1e-5, kbps
        upstream.feature_extractor.encodec.set_target_bandwidth(kbps)
        codes = upstream.feature_extractor.get_encodec_codes(audio)
        from_codes = ours.decode(ours.codes_to_features(codes[:, 0]))
        theirs = upstream.decode(upstream.codes_to_features(codes), bandwidth_id=torch.tensor([i]))
        assert (from_codes - theirs).abs().max() <= 1e-5, kbps

    # vocoder-synthesize: audio encoded at --bandwidth, codes .npy at its codebook count, one line otherwise
    import numpy as np

    from vocoder_train.cli.synthesize import main as synthesize
    from vocoder_train.io.audio import save_audio

    save_audio(tmp_path / "in" / "a.wav", audio[0], 24000)
    upstream.feature_extractor.encodec.set_target_bandwidth(3.0)
    np.save(tmp_path / "in" / "codes.npy", upstream.feature_extractor.get_encodec_codes(audio)[:, 0].numpy())
    assert synthesize([str(ckpt), str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--bandwidth", "3"]) == 0
    assert (tmp_path / "out" / "a.wav").is_file() and (tmp_path / "out" / "codes.wav").is_file()
    rc = synthesize(
        [str(ckpt), str(tmp_path / "in" / "codes.npy"), "-o", str(tmp_path / "o2"), "--bandwidth", "6"]
    )
    err = capsys.readouterr().err
    assert rc == 1 and "at 6 kbps the model takes 8 codebooks" in err, err
    rc = synthesize([str(ckpt), str(tmp_path / "in"), "-o", str(tmp_path / "o3"), "--bandwidth", "24"])
    assert rc == 1 and "bandwidths are 1.5, 3, 6, 12" in capsys.readouterr().err
    # vocoder-evaluate: an A/B report's baseline row is EnCodec's own decoder at --bandwidth
    import json

    from vocoder_train.cli.evaluate import main as evaluate

    save_audio(tmp_path / "eval" / "a.wav", audio[0], 24000)
    args = [str(ckpt), str(ckpt), "--data", str(tmp_path / "eval"), "-o", str(tmp_path / "ev")]
    assert evaluate([*args, "--metrics", "mel_l1", "--bandwidth", "3", "--no-progress", "--plots", "0"]) == 0
    assert "EnCodec's own decoder at 3 kbps" in (tmp_path / "ev" / "report.md").read_text()
    systems = json.loads((tmp_path / "ev" / "metrics.json").read_text())["systems"]
    assert [x["label"] for x in systems] == ["A", "B", "codec"]


@pytest.mark.parametrize(
    "override, says",
    [
        ("codec.path=/nowhere/encodec.th", "codec.path=/nowhere/encodec.th: no such file"),
        ("codec.path=null", "codec.path is not set"),
        ("codec.path=" + __file__, "a text file, not PyTorch weights"),
        ("model.generator.feature_extractor.encodec_model=encodec_48khz", "48 kHz EnCodec"),
        ("model.generator.head.hop_length=256", "head hop 256 != feature_extractor.hop_length=320"),
        ("model.generator.feature_extractor.bandwidths=[1.5,5.0]", "has 5.0"),
        ("model.discriminator.mrd.num_embeddings=3", "conditioned on 4 ids"),
    ],
)
def test_wrong_codec_settings_fail_before_any_work_with_one_line(tmp_path, tiny_corpus, override, says):
    from vocoder_train.config.checks import ConfigError
    from vocoder_train.training.run import check_run_config

    cfg = _compose(tmp_path, tiny_corpus, override)
    with pytest.raises(ConfigError) as e:
        check_run_config(cfg)
    assert says in str(e.value), str(e.value)
