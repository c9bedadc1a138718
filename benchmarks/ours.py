"""Our training step as the step and options benchmarks drive it: ``VocoderGAN.training_step`` through a
Lightning ``Trainer``, built from the upstream peer's weights so that both start alike."""

from __future__ import annotations

import logging
import warnings

import torch

from benchmarks.harness import PRECISIONS, Options, sync
from benchmarks.upstream import UpstreamStep


def quiet_lightning() -> None:
    for name in ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    warnings.filterwarnings("ignore", ".*LightningModule.configure_optimizers.*")
    warnings.filterwarnings("ignore", ".*weight_norm.*")
    warnings.filterwarnings("ignore", ".*TorchScript.*")


def compose_ours(overrides: list[str], experiment: str = "vocos_mel_24khz"):
    from hydra import compose, initialize_config_dir

    from vocoder_train.config import CONFIG_DIR

    base = [
        f"experiment={experiment}",
        "model.optim.total_iterations=1000000",
        "validation.metrics=[]",
        "logger={}",
    ]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("train", overrides=base + list(overrides))


def map_upstream_discriminators(peer: UpstreamStep) -> dict[str, torch.Tensor]:
    """Upstream (old-style ``weight_norm``: weight_g / weight_v) -> our ``adversary`` state-dict keys
    (parametrizations: original0 / original1). Same architectures, same parameter order."""
    out = {}
    for ours_name, disc in (("mpd", peer.mpd), ("mrd", peer.mrd)):
        for k, v in disc.state_dict().items():
            if k.endswith("spec_fn.window"):
                continue  # our MRD's window is a non-persistent buffer
            k = k.replace(".weight_g", ".parametrizations.weight.original0").replace(
                ".weight_v", ".parametrizations.weight.original1"
            )
            out[f"discriminators.{ours_name}.{k}"] = v
    return out


def build_ours(peer: UpstreamStep, overrides: list[str] | None = None):
    """Ours with the peer's weights: the mel recipe, or for an EnCodec peer ``experiment=vocos_encodec_24khz``
    with ``codec.path`` at the EnCodec file the peer loaded (torch hub's cache: build both inside
    :func:`vocoder_train.models.codec.torch_home_with_codec`)."""
    from vocoder_train.io.buffers import drop_derived
    from vocoder_train.training.run import build_module

    overrides = list(overrides or [])
    if peer.encodec:
        from vocoder_train.models.codec import hub_file

        overrides.append(f"codec.path={hub_file()}")
    experiment = "vocos_encodec_24khz" if peer.encodec else "vocos_mel_24khz"
    module = build_module(compose_ours(overrides, experiment))
    module.generator.load_state_dict(
        drop_derived(peer.gen.state_dict(), module.generator)
    )  # vocos saves its windows/filterbanks
    missing, unexpected = module.adversary.load_state_dict(map_upstream_discriminators(peer), strict=True)
    assert not missing and not unexpected
    # optimizers persist across the one-iteration fits below, like the peer's
    cached: dict = {}
    original = module.configure_optimizers

    def configure_optimizers():
        if "v" not in cached:
            cached["v"] = original()
        return cached["v"]

    module.configure_optimizers = configure_optimizers
    module.reset_optimizers = cached.clear  # the next fit starts with fresh optimizers
    return module


def _step_timer(opts: Options):
    import pytorch_lightning as pl

    class Timer(pl.Callback):
        def on_train_batch_start(cb, trainer, pl_module, batch, batch_idx):
            cb.t0 = opts.now()

        def on_train_batch_end(cb, trainer, pl_module, outputs, batch, batch_idx):
            sync(pl_module.device)
            cb.dt = opts.now() - cb.t0
            cb.losses = {
                k: float(v) for k, v in outputs.items() if v.numel() == 1 and not k.startswith("grad")
            }

    return Timer()


def ours_step(
    module, audio: torch.Tensor, precision: str, opts: Options, condition: int | None = None
) -> tuple[float, dict[str, float]]:
    """One GAN iteration of ``VocoderGAN.training_step`` through a Lightning Trainer on ``opts.device``;
    (seconds on ``opts``' clock, losses). ``condition``: the conditioning id of a conditioned model."""
    import pytorch_lightning as pl

    timer = _step_timer(opts)
    trainer = pl.Trainer(
        accelerator="gpu" if opts.device == "cuda" else "cpu",
        devices=1,
        precision=PRECISIONS[precision],
        max_steps=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        callbacks=[timer],
    )
    item = {"audio": audio} if condition is None else {"audio": audio, "condition": torch.tensor([condition])}
    loader = torch.utils.data.DataLoader([item], batch_size=None)
    trainer.fit(module, train_dataloaders=loader)
    return timer.dt, timer.losses
