"""Config validation before any work: one line per problem, naming the key and the value."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from vocoder_train.config import CONFIG_DIR

MIN_FRAMES = 8  # shortest training / validation segment, in hops: the discriminators and losses need context
# The one place that lists model.optim's keys, with their defaults and what each does.
OPTIM_REFERENCE = Path(CONFIG_DIR) / "model" / "optim" / "adamw_cosine.yaml"
PERF_REFERENCE = Path(CONFIG_DIR) / "model" / "perf" / "default.yaml"
MODEL_GROUPS = ("generator", "discriminator", "loss", "optim", "perf")
PERF_OPTIMIZERS = (
    "default",
    "foreach",
    "fused",
    "for_loop",
)  # model.perf.optimizer: torch.optim.AdamW implementations
GENERATOR_PARTS = ("backbone", "head")  # generator parts model.perf.compile takes
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune-no-cudagraphs")  # torch.compile modes
# Root keys that training reads; configs/train.yaml sets each.
REQUIRED_KEYS = (
    "validation.metrics",
    "validation.slow_every",
    "validation.utmos",
    "max_skipped_files",
    "cpu_threads",
    "onednn",
    "resume",
    "ckpt_path",
    "init",
)
# Callback classes that configs written for an older layout may still name, and what replaces them.
REPLACED_CALLBACKS = {"vocoder_train.data.mixing.MixLogger": "vocoder_train.training.callbacks.DataHealth"}
_ABSENT = object()


class ConfigError(ValueError):
    """The run config is inconsistent. ``problems``: one line each; the message lists them all."""

    def __init__(self, *problems: str):
        self.problems = list(problems)
        super().__init__("invalid config:\n  - " + "\n  - ".join(self.problems))


def _get(cfg: DictConfig, key: str):
    return OmegaConf.select(cfg, key, default=None)


def audio_problems(cfg: DictConfig) -> list[str]:
    p: list[str] = []
    sr, n_fft, hop = _get(cfg, "audio.sample_rate"), _get(cfg, "audio.n_fft"), _get(cfg, "audio.hop_length")
    seg, n_mels = _get(cfg, "audio.segment_length"), _get(cfg, "audio.n_mels")
    for key, val in (
        ("audio.sample_rate", sr),
        ("audio.n_fft", n_fft),
        ("audio.hop_length", hop),
        ("audio.segment_length", seg),
        ("audio.n_mels", n_mels),
    ):
        if not isinstance(val, int) or val <= 0:
            p.append(f"{key}={val!r}: must be a positive integer")
    if p:
        return p
    if hop > n_fft:
        p.append(f"audio.hop_length={hop} > audio.n_fft={n_fft}: frames would skip samples")
    elif n_fft < 2 * hop:
        p.append(
            f"audio.n_fft={n_fft} < 2 * audio.hop_length={hop}: Hann windows overlapping by less than half "
            "leave "
            f"samples with almost no weight; use n_fft >= {2 * hop} (Vocos uses 4 * hop = {4 * hop})"
        )
    if seg % hop:
        p.append(
            f"audio.segment_length={seg} is not a multiple of audio.hop_length={hop}; "
            f"use {seg // hop * hop or hop}"
        )
    elif seg < MIN_FRAMES * hop:
        p.append(
            f"audio.segment_length={seg} is only {seg // hop} frames of audio.hop_length={hop}; "
            f"use at least {MIN_FRAMES * hop} ({MIN_FRAMES} frames)"
        )
    if n_mels > n_fft // 2 + 1:
        p.append(
            f"audio.n_mels={n_mels} > n_fft // 2 + 1 = {n_fft // 2 + 1}: empty mel filters; lower n_mels"
        )
    val_seg = _get(cfg, "data.val_segment_length")
    if isinstance(val_seg, int) and val_seg % hop:
        p.append(
            f"data.val_segment_length={val_seg} is not a multiple of audio.hop_length={hop}; "
            f"use {val_seg // hop * hop or hop}"
        )
    elif isinstance(val_seg, int) and val_seg < MIN_FRAMES * hop:
        p.append(
            f"data.val_segment_length={val_seg} is only {val_seg // hop} frames of audio.hop_length={hop}; "
            f"use at least {MIN_FRAMES * hop} ({MIN_FRAMES} frames)"
        )
    p += _rate_problems(cfg, sr)
    return p


def _walk(node, prefix: str):
    """(dotted key, value) for every leaf under a resolved container."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, f"{prefix}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, f"{prefix}[{i}]")
    else:
        yield prefix, node


def _container(cfg: DictConfig, key: str):
    node = _get(cfg, key)
    if not isinstance(node, DictConfig):
        return {}
    try:
        return OmegaConf.to_container(node, resolve=True)
    except Exception:  # noqa: BLE001 - a missing value elsewhere is reported by its own check
        return {}


def _rate_problems(cfg: DictConfig, sr: int) -> list[str]:
    """Every sample_rate in the model and data nodes equals audio.sample_rate; mel band edges below
    Nyquist."""
    p: list[str] = []
    for root in ("model", "data"):
        for key, val in _walk(_container(cfg, root), root):
            name = key.rsplit(".", 1)[-1]
            if name == "sample_rate" and isinstance(val, (int, float)) and val != sr:
                p.append(f"{key}={val} != audio.sample_rate={sr}: set it to ${{audio.sample_rate}}")
            elif name in ("f_max", "fmax") and isinstance(val, (int, float)) and val > sr / 2:
                p.append(
                    f"{key}={val} > audio.sample_rate / 2 = {sr / 2:g}: mel bands above Nyquist are empty; "
                    f"use f_max <= {sr / 2:g} (or null for Nyquist)"
                )
    return p


def generator_problems(cfg: DictConfig) -> list[str]:
    p: list[str] = []
    fe, bb, head = (_get(cfg, f"model.generator.{k}") for k in ("feature_extractor", "backbone", "head"))
    if fe is None or bb is None or head is None:
        return ["model.generator: needs feature_extractor, backbone and head"]
    fe_hop, head_hop = (
        fe.get("hop_length"),
        head.get("hop_length", head.get("mdct_frame_len", 0) // 2 or None),
    )
    if fe_hop and head_hop and fe_hop != head_hop:
        p.append(
            f"model.generator.head hop {head_hop} != feature_extractor.hop_length={fe_hop}: "
            "the head must advance one frame per feature frame"
        )
    if fe.get("n_mels") and bb.get("input_channels") and fe.n_mels != bb.input_channels:
        p.append(
            f"model.generator.backbone.input_channels={bb.input_channels} != "
            f"feature_extractor.n_mels={fe.n_mels}"
        )
    if head.get("dim") and bb.get("dim") and head.dim != bb.dim:
        p.append(f"model.generator.head.dim={head.dim} != backbone.dim={bb.dim}")
    # "same" padding (vocos.spectral_ops.ISTFT, MelSpectrogramFeatures) pads (n_fft - hop) // 2 a side: an
    # odd difference gives one sample (head) or one frame (features) too few, e.g. "348 vs 347 frames".
    for part, node in (("feature_extractor", fe), ("head", head)):
        n, h = node.get("n_fft"), node.get("hop_length")
        if node.get("padding") == "same" and isinstance(n, int) and isinstance(h, int) and (n - h) % 2:
            p.append(
                f"model.generator.{part}: n_fft={n} - hop_length={h} is odd: 'same' padding would lose a "
                f"{'frame' if part == 'feature_extractor' else 'sample'} (the 348-vs-347 crash); "
                f"give n_fft and hop_length the same parity, e.g. hop_length={h + 1} or n_fft={n + 1}"
            )
    if (
        head.get("_target_", "").endswith("ISTFTHead")
        and head.get("n_fft") is not None
        and head.get("hop_length")
    ):
        if head.n_fft <= head.hop_length:
            p.append(
                f"model.generator.head.n_fft={head.n_fft} <= hop_length={head.hop_length}: the ISTFT needs "
                "overlapping frames"
            )
    return p


def discriminator_problems(cfg: DictConfig) -> list[str]:
    """Every discriminator's FFT sizes and periods fit in a training segment."""
    p: list[str] = []
    seg = _get(cfg, "audio.segment_length")
    if not isinstance(seg, int) or seg <= 0:
        return p
    for name, node in _container(cfg, "model.discriminator").items():
        if not isinstance(node, dict):
            continue
        key = f"model.discriminator.{name}"
        if "_target_" not in node:
            p.append(
                f"{key}={node}: has no _target_ (settings for a discriminator that model/discriminator does "
                "not define?)"
            )
            continue
        sizes = [(f"{key}.fft_sizes", int(n)) for n in node.get("fft_sizes") or []]
        sizes += [(f"{key}.resolutions", int(r[0])) for r in node.get("resolutions") or [] if r]
        for k, n in sizes:
            if n > seg:
                p.append(
                    f"{k} has n_fft {n} > audio.segment_length={seg}: the STFT needs at least one full "
                    "window; "
                    f"use sizes <= {seg} or a longer segment"
                )
        for period in node.get("periods") or []:
            if int(period) >= seg:
                p.append(f"{key}.periods has {period} >= audio.segment_length={seg}")
        octaves = node.get("n_octaves")
        if isinstance(octaves, int):
            for hop in node.get("hop_lengths") or []:
                if int(hop) % 2 ** (octaves - 1):
                    p.append(
                        f"{key}.hop_lengths has {hop}, "
                        f"not divisible by 2^(n_octaves - 1) = {2 ** (octaves - 1)}: "
                        "lower n_octaves or use a multiple"
                    )
    return p


def loss_problems(cfg: DictConfig) -> list[str]:
    """model.loss.lambdas weighs g_mel and no discriminator term; every discriminator entry has its
    weights."""
    from vocoder_train.losses.adversarial import TERMS, entry_weights

    p: list[str] = []
    lambdas = _get(cfg, "model.loss.lambdas") or {}
    for key in lambdas:
        term = next((t for t in TERMS if key.startswith(f"{t}_")), None)
        if term:
            p.append(
                f"model.loss.lambdas.{key}: a discriminator's weights are in its entry; "
                f"set model.discriminator.{key[len(term) + 1 :]}.weights.{term} instead"
            )
    for name, node in _container(cfg, "model.discriminator").items():
        if isinstance(node, dict) and "_target_" in node:
            try:
                entry_weights(name, node)
            except ValueError as e:
                p.append(str(e))
    if "g_mel" not in lambdas:
        p.append("model.loss.lambdas.g_mel missing")
    return p


def data_problems(cfg: DictConfig) -> list[str]:
    p: list[str] = []
    sources = _get(cfg, "data.sources")
    keys = ("data.val",) if sources else ("data.train", "data.val")
    if sources and _get(cfg, "data.train") not in (None, "???", ""):
        p.append("data.sources and data.train are both set: give one (data.train=null to mix sources)")
    for i, src in enumerate(sources or []):
        manifest, weight = (
            (src.get("manifest"), src.get("weight", 1.0)) if hasattr(src, "get") else (None, None)
        )
        if not manifest or not Path(str(manifest)).exists():
            p.append(f"data.sources[{i}].manifest={manifest}: no such file or folder")
        if not isinstance(weight, int | float) or weight <= 0:
            p.append(f"data.sources[{i}].weight={weight!r}: must be a number > 0")
    for key in keys:
        val = _get(cfg, key)
        if val in (None, "???", ""):
            p.append(f"{key} is not set: point it at a manifest from vocoder-prepare, a filelist or a folder")
        elif not Path(str(val)).exists():
            p.append(f"{key}={val}: no such file or folder")
    if _get(cfg, "data.mels"):
        hop = _get(cfg, "data.hop_length")
        for key in ("data.segment_length", "data.val_segment_length"):
            n = _get(cfg, key)
            if isinstance(n, int) and isinstance(hop, int) and n % hop:
                p.append(
                    f"{key}={n} is not a multiple of data.hop_length={hop} (mel pairs are cut on frames)"
                )
        bins, channels = _get(cfg, "data.n_mels"), _get(cfg, "model.generator.backbone.input_channels")
        if bins and channels and bins != channels:
            p.append(f"data.n_mels={bins} != model.generator.backbone.input_channels={channels}")
    val = _get(cfg, "data.val")
    if val not in (None, "???", "") and Path(str(val)).exists():
        from vocoder_train.data.manifest import ManifestError, read_manifest

        try:
            read_manifest(str(val))
        except ManifestError as e:
            if "empty" in str(e) or "no audio files" in str(e):
                p.append(
                    f"data.val={val} is empty: no validation files; rerun vocoder-prepare with "
                    "--val-fraction "
                    "or --val-list, or point data.val at a filelist or folder of held-out audio"
                )
            else:
                p.append(f"data.val={val}: {e}")
    for key in ("data.batch_size", "data.val_batch_size"):
        val = _get(cfg, key)
        if not isinstance(val, int) or val <= 0:
            p.append(f"{key}={val!r}: must be a positive integer (per device)")
    return p


@functools.cache
def optim_keys() -> frozenset[str]:
    return frozenset(OmegaConf.load(OPTIM_REFERENCE).keys())


def optim_key_problems(optim: Mapping) -> list[str]:
    """model.optim has every key of :data:`OPTIM_REFERENCE` and no other."""
    known = optim_keys()
    missing = [
        f"model.optim.{k} is missing: set it (see {OPTIM_REFERENCE.name} for its default)"
        for k in sorted(known - set(optim))
    ]
    unknown = [
        f"model.optim.{k}: unknown key (known: {', '.join(sorted(known))}); remove or respell it"
        for k in sorted(set(optim) - known)
    ]
    return missing + unknown


def perf_problems(cfg: DictConfig) -> list[str]:
    """model.perf: the keys of :data:`PERF_REFERENCE`, a known AdamW implementation and MPD layout,
    compilable parts."""
    perf = OmegaConf.select(cfg, "model.perf", default=None)
    if perf is None:
        return []
    if not isinstance(perf, DictConfig):
        return [f"model.perf must be a mapping (see {PERF_REFERENCE.name})"]
    known = set(OmegaConf.load(PERF_REFERENCE).keys())
    p = [
        f"model.perf.{k}: unknown key (known: {', '.join(sorted(known))}); remove or respell it"
        for k in perf
        if k not in known
    ]
    p += [
        f"model.perf.{k} is missing: set it (see configs/model/perf/{PERF_REFERENCE.name})"
        for k in sorted(known - set(perf))
    ]
    if perf.get("optimizer") not in PERF_OPTIMIZERS:
        p.append(
            f"model.perf.optimizer={perf.get('optimizer')!r}: choose one of {', '.join(PERF_OPTIMIZERS)}"
        )
    from vocoder_train.models.discriminators.vocos import LAYOUTS

    if perf.get("mpd_layout") not in LAYOUTS:
        p.append(f"model.perf.mpd_layout={perf.get('mpd_layout')!r}: choose one of {', '.join(LAYOUTS)}")
    if perf.get("compile_mode") not in COMPILE_MODES:
        p.append(
            f"model.perf.compile_mode={perf.get('compile_mode')!r}: choose one of {', '.join(COMPILE_MODES)}"
        )
    names = perf.get("compile") or []
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        return p + [f"model.perf.compile={names!r}: give a list, e.g. [backbone, mpd]"]
    parts = [*GENERATOR_PARTS, *(_get(cfg, "model.discriminator") or {})]
    return p + [
        f"model.perf.compile: {n!r} is not a compilable part; choose from {', '.join(parts)}"
        for n in names
        if n not in parts
    ]


def key_problems(cfg: DictConfig) -> list[str]:
    """Keys that training reads are there; keys that nothing reads are named."""
    p = [
        f"{key} is missing: configs/train.yaml sets it; override its value rather than deleting it"
        for key in REQUIRED_KEYS
        if OmegaConf.select(cfg, key, default=_ABSENT) is _ABSENT
    ]
    model = _get(cfg, "model") or {}
    p += [
        f"model.{k}: unknown key; model has {', '.join(MODEL_GROUPS)}: remove model.{k}"
        for k in model
        if k not in MODEL_GROUPS
    ]
    if isinstance(model.get("optim"), DictConfig):
        p += optim_key_problems(model.optim)
    for name, node in (_get(cfg, "callbacks") or {}).items():
        target = node.get("_target_") if isinstance(node, DictConfig) else None
        if target in REPLACED_CALLBACKS:
            p.append(
                f"callbacks.{name}._target_={target}: use {REPLACED_CALLBACKS[target]} instead "
                f"(callbacks.data_health in configs/callbacks/default.yaml logs data/mix_<name>); "
                f"remove callbacks.{name}"
            )
    return p


def init_problems(cfg: DictConfig) -> list[str]:
    """init.path exists and, for a vocos folder, holds both files and the configured front end."""
    path = _get(cfg, "init.path")
    if path in (None, "") and _get(cfg, "init.required"):
        return [
            "init.path is not set: this experiment fine-tunes pretrained weights; pass init.path=<a vocos "
            "folder "
            "(config.yaml + pytorch_model.bin), a safetensors export or a .ckpt>, or init.required=false to "
            "start from random weights on purpose"
        ]
    if path in (None, ""):
        return []
    src = Path(str(path)).expanduser()
    if not src.exists():
        return [f"init.path={path}: no such vocos folder or checkpoint"]
    if not src.is_dir():
        return []
    missing = [n for n in ("config.yaml", "pytorch_model.bin") if not (src / n).is_file()]
    if missing:
        return [
            f"init.path={path}: a vocos folder needs config.yaml and pytorch_model.bin ({', '.join(missing)} "
            "missing); "
            "download both from the model's hub page into it"
        ]
    import yaml

    try:
        stored = yaml.safe_load((src / "config.yaml").read_text(encoding="utf-8")) or {}
        fe = stored["feature_extractor"]["init_args"]
        bb = {"_target_": stored["backbone"]["class_path"], **stored["backbone"]["init_args"]}
    except (KeyError, TypeError, OSError, yaml.YAMLError):
        return []  # the loader reports a malformed config with more context
    p = []
    for key in ("sample_rate", "n_fft", "hop_length", "n_mels"):
        ours = _get(cfg, f"audio.{key}")
        if key in fe and ours is not None and fe[key] != ours:
            p.append(
                f"audio.{key}={ours} but init.path={path} was trained with {key}={fe[key]}: set "
                f"audio.{key}={fe[key]}"
            )
    return p + backbone_problems(cfg, bb, f"init.path={path}")


BACKBONE_SIZES = ("dim", "intermediate_dim", "num_layers")


def _generator_option(sizes: dict) -> str | None:
    """The shipped ``model/generator`` option whose backbone has this class (``_target_``) and these
    sizes (its own file over the one it extends), or None."""
    import yaml

    folder = Path(CONFIG_DIR) / "model" / "generator"
    for f in sorted(folder.glob("*.yaml")):
        node = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
        parents = [d for d in node.get("defaults", []) if isinstance(d, str) and d != "_self_"]
        backbone = {}
        for parent in parents:
            backbone.update(
                (yaml.safe_load((folder / f"{parent}.yaml").read_text()) or {}).get("backbone", {})
            )
        backbone.update(node.get("backbone", {}))
        if all(backbone.get(k) == sizes.get(k) for k in (*BACKBONE_SIZES, "_target_")):
            return f.stem
    return None


def backbone_problems(cfg: DictConfig, pretrained: dict, source: str) -> list[str]:
    """The configured backbone has the pretrained one's sizes; else one line naming what to pick."""
    ours = {k: _get(cfg, f"model.generator.backbone.{k}") for k in BACKBONE_SIZES}
    theirs = {k: pretrained.get(k) for k in BACKBONE_SIZES}
    if ours == theirs or None in theirs.values():
        return []
    option = _generator_option({**theirs, "_target_": pretrained.get("_target_")})
    pick = (
        f"model/generator={option}"
        if option
        else " ".join(f"model.generator.backbone.{k}={v}" for k, v in theirs.items())
    )
    sizes = ", ".join(
        f"{k} {theirs[k]} (configured {ours[k]})" for k in BACKBONE_SIZES if ours[k] != theirs[k]
    )
    return [f"{source} has a backbone of another size: {sizes}; add {pick}"]


def optim_problems(cfg: DictConfig) -> list[str]:
    """The training phases fit in trainer.max_steps (optimizer steps: mel-only and D-only iterations are
    1)."""
    max_steps = _get(cfg, "trainer.max_steps")
    if _get(cfg, "model.optim.time_budget") and not _get(cfg, "trainer.max_time"):
        return ["model.optim.time_budget=true needs trainer.max_time, e.g. trainer.max_time=00:00:10:00"]
    if _get(cfg, "model.optim.time_budget") or not isinstance(max_steps, int) or max_steps <= 0:
        return []
    mel, warm = (
        int(_get(cfg, "model.optim.pretrain_mel_steps") or 0),
        int(_get(cfg, "model.optim.disc_warmup_steps") or 0),
    )
    if mel + warm < max_steps:
        return []
    what = (
        f"model.optim.pretrain_mel_steps={mel} + model.optim.disc_warmup_steps={warm} >= "
        f"trainer.max_steps={max_steps}: "
        "no GAN iteration would run"
    )
    if warm == 0:  # a deliberate mel-only run is legitimate: say so, don't stop it
        warnings.warn(f"{what} (a mel-only run)", stacklevel=3)
        return []
    return [f"{what}; raise trainer.max_steps above {mel + warm} or shorten the phases"]


def validation_problems(cfg: DictConfig) -> list[str]:
    from vocoder_train.metrics.registry import METRICS

    p: list[str] = []
    names = list(_get(cfg, "validation.metrics") or [])
    p += [
        f"validation.metrics: unknown metric {n!r}; known: {', '.join(METRICS)}"
        for n in names
        if n not in METRICS
    ]
    entries = ["model_checkpoint"] + (["early_stop"] if _get(cfg, "callbacks.early_stop.patience") else [])
    for entry in entries:
        p += _monitor_problems(cfg, f"callbacks.{entry}", names)
    return p


def _monitor_problems(cfg: DictConfig, node: str, names: list[str]) -> list[str]:
    """``<node>.monitor`` is a validation metric that is computed at every validation, ``<node>.mode`` its
    direction."""
    from vocoder_train.metrics.registry import METRICS, SLOW_METRICS, metric_mode

    p: list[str] = []
    monitor, mode = _get(cfg, f"{node}.monitor"), _get(cfg, f"{node}.mode")
    if not monitor:
        return p
    key = monitor.removeprefix("val/")
    if key == "utmos":
        if not _get(cfg, "validation.utmos"):
            p.append(f"{node}.monitor={monitor}: set validation.utmos to local UTMOS weights")
        if mode and mode != "max":
            p.append(f"{node}.mode={mode}: {monitor} is better when higher; use mode=max")
    elif key != "mel_l1" and key not in names:
        p.append(f"{node}.monitor={monitor}: not computed; add {key} to validation.metrics")
    elif key in METRICS and mode and mode != metric_mode(key):
        p.append(
            f"{node}.mode={mode}: {monitor} is better when "
            f"{'higher' if metric_mode(key) == 'max' else 'lower'}; use mode={metric_mode(key)}"
        )
    if key in SLOW_METRICS and (_get(cfg, "validation.slow_every") or 1) > 1:
        p.append(
            f"{node}.monitor={monitor} is computed only every validation.slow_every validations; set "
            "validation.slow_every=1"
        )
    return p


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# Settings of the callbacks in vocoder_train/training/health.py: key -> (valid?, what it must be).
HEALTH_RULES = {
    "callbacks.gan_health.every_n_steps": (_positive_int, "an integer >= 1 (GAN iterations)"),
    "callbacks.gan_health.patience": (_positive_int, "an integer >= 1 (checks)"),
    "callbacks.gan_health.d_collapse_ratio": (
        lambda v: _number(v) and 0 < v < 1,
        "in (0, 1): a share of an undecided discriminator's loss, e.g. 0.1",
    ),
    "callbacks.gan_health.g_runaway_ratio": (lambda v: _number(v) and v > 0, "a number > 0, e.g. 1.0"),
    "callbacks.early_stop.patience": (
        lambda v: v is None or _positive_int(v),
        "an integer >= 1 (validations), or null for off",
    ),
    "callbacks.early_stop.min_delta": (lambda v: _number(v) and v >= 0, "a number >= 0"),
    "callbacks.early_stop.mode": (lambda v: v in ("min", "max"), "min or max"),
}


def health_problems(cfg: DictConfig) -> list[str]:
    """The health callbacks' settings, for each of them that the config has."""
    return [
        f"{key}={_get(cfg, key)!r}: must be {what}"
        for key, (valid, what) in HEALTH_RULES.items()
        if isinstance(_get(cfg, key.rsplit(".", 1)[0]), DictConfig) and not valid(_get(cfg, key))
    ]


def check_config(cfg: DictConfig) -> None:
    """Raises :class:`ConfigError` listing every problem; returns quietly when none."""
    problems = (
        key_problems(cfg)
        + audio_problems(cfg)
        + generator_problems(cfg)
        + discriminator_problems(cfg)
        + loss_problems(cfg)
        + data_problems(cfg)
        + init_problems(cfg)
        + optim_problems(cfg)
        + validation_problems(cfg)
        + health_problems(cfg)
        + perf_problems(cfg)
    )
    if problems:
        raise ConfigError(*problems)
