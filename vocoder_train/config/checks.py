"""Config validation before any work: one line per problem, naming the key and the value.

The checks are composed, not centralised. Every component that a config node names by ``_target_``
(data source, generator and its parts, discriminators, losses, callbacks, loggers) may declare the rules
of its own node as a classmethod::

    @classmethod
    def config_problems(cls, node: DictConfig, key: str, cfg: DictConfig) -> list[str]:
        ...  # one line per problem; ``key`` is the node's dotted location, ``cfg`` the whole run config

:func:`check_config` finds each ``_target_`` in the config (a ``_target_`` naming a classmethod stands
for its class), reports one that does not import, and calls the rules its class declares. Sections that
have no ``_target_`` (the optimizer, speed options, validation, initialisation) are checked by rule
functions that their owners pass in (see :data:`vocoder_train.training.run_config.RUN_RULES`). This module
owns only the ``audio`` node, the one source of the signal settings that the rest interpolates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from omegaconf import DictConfig, ListConfig, OmegaConf

MIN_FRAMES = 8  # shortest training / validation segment, in hops: the discriminators and losses need context

Rule = Callable[[DictConfig], list[str]]  # the whole run config -> one line per problem


class ConfigError(ValueError):
    """The run config is inconsistent. ``problems``: one line each; the message lists them all."""

    def __init__(self, *problems: str):
        self.problems = list(problems)
        super().__init__("invalid config:\n  - " + "\n  - ".join(self.problems))


def select(cfg: DictConfig, key: str):
    """The value at dotted ``key``, or None where it is absent or cannot be resolved."""
    try:
        return OmegaConf.select(cfg, key, default=None)
    except Exception:  # noqa: BLE001 - an interpolation that fails is reported by the check that reads it
        return None


def unresolved(cfg: DictConfig, key: str) -> str | None:
    """Why the value at dotted ``key`` does not resolve: "missing" when it interpolates a missing value
    (``???``: the check of the node that holds it reports it), the resolver's own message when an
    interpolation fails, None when it resolves, is absent or is missing itself."""
    from omegaconf.errors import InterpolationToMissingValueError, MissingMandatoryValue

    try:
        OmegaConf.select(cfg, key, default=None, throw_on_missing=True)
    except InterpolationToMissingValueError:
        return "missing"
    except MissingMandatoryValue:
        return None
    except Exception as e:  # noqa: BLE001 - a resolver's error, e.g. ${frame_hop:...} on a fractional hop
        return resolution_message(e)
    return None


def resolution_message(error: Exception) -> str:
    """The first line of an error that OmegaConf raised while resolving, without its own prefix: the
    resolver's message (``${frame_hop:...}`` on a fractional hop, ``${mul:...}``), or the key it missed."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return first.rpartition("raised while resolving interpolation: ")[2]


def _stored(cfg: DictConfig, key: str):
    """The value at dotted ``key`` as written (an interpolation stays its text)."""
    parent, _, name = key.rpartition(".")
    node = select(cfg, parent) if parent else cfg
    try:
        return node._get_node(name)._value()
    except Exception:  # noqa: BLE001 - only for messages
        return None


AUDIO_KEYS = ("sample_rate", "n_fft", "hop_length", "segment_length", "n_mels")


def audio_problems(cfg: DictConfig) -> list[str]:
    # values that interpolate a failing resolver: one line per distinct failure, naming the first key
    # that has it as written; values that interpolate a missing one: reported where that one lives
    failures: dict[str, str] = {}
    for k in sorted(AUDIO_KEYS, key=lambda k: k != "hop_length"):  # the others derive from it, if any
        why = unresolved(cfg, f"audio.{k}")
        if why is not None:
            failures.setdefault(why, f"audio.{k}={_stored(cfg, f'audio.{k}')}")
    if failures:
        return [f"{key}: {why}" for why, key in failures.items() if why != "missing"]
    p: list[str] = []
    sr, n_fft, hop, seg, n_mels = (select(cfg, f"audio.{k}") for k in AUDIO_KEYS)
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
    val_seg = select(cfg, "data.val_segment_length")
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


def container(cfg: DictConfig, key: str) -> dict:
    """The node at ``key`` as a resolved plain dict ({} where absent, not a mapping or unresolvable)."""
    node = select(cfg, key)
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
        for key, val in _walk(container(cfg, root), root):
            name = key.rsplit(".", 1)[-1]
            if name == "sample_rate" and isinstance(val, (int, float)) and val != sr:
                p.append(f"{key}={val} != audio.sample_rate={sr}: set it to ${{audio.sample_rate}}")
            elif name in ("f_max", "fmax") and isinstance(val, (int, float)) and val > sr / 2:
                p.append(
                    f"{key}={val} > audio.sample_rate / 2 = {sr / 2:g}: mel bands above Nyquist are empty; "
                    f"use f_max <= {sr / 2:g} (or null for Nyquist)"
                )
    return p


def is_positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def value_problems(node, key: str, rules: dict) -> list[str]:
    """``rules``: {name: (valid?, what it must be)} for the values of ``node`` at ``key``; one line for
    each value that is not valid."""
    return [
        f"{key}.{name}={node.get(name)!r}: must be {what}"
        for name, (valid, what) in rules.items()
        if not valid(node.get(name))
    ]


def _is_container(node) -> bool:
    return isinstance(node, DictConfig | ListConfig) and not node._is_missing() and not node._is_none()


def components(cfg: DictConfig, prefix: str = "") -> Iterator[tuple[str, DictConfig]]:
    """(dotted key, node) of every node with a ``_target_``, parents before children."""
    if isinstance(cfg, DictConfig):
        if "_target_" in cfg and prefix:
            yield prefix, cfg
        for k in cfg.keys():
            if k == "hydra":
                continue
            child = cfg._get_node(k)
            if _is_container(child):
                yield from components(child, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(cfg, ListConfig):
        for i in range(len(cfg)):
            child = cfg._get_node(i)
            if _is_container(child):
                yield from components(child, f"{prefix}[{i}]")


def declared_rules(target: str):
    """The ``config_problems`` that ``target``'s class declares (None if it declares none); raises
    ImportError or AttributeError when ``target`` does not name an importable object."""
    from hydra.utils import get_object

    obj = get_object(target)
    owner = obj.__self__ if isinstance(getattr(obj, "__self__", None), type) else obj
    return getattr(owner, "config_problems", None)


def component_problems(cfg: DictConfig, reported: Iterable[str] = ()) -> list[str]:
    """Each ``_target_`` imports, and its class's own rules hold. A rule that stops at a value that does
    not resolve gives the resolver's message, once over these lines and the ``reported`` ones; at a
    missing value (``???``) nothing: the check of the node that holds it, or Hydra, names it."""
    from omegaconf.errors import InterpolationResolutionError, InterpolationToMissingValueError

    p: list[str] = []
    seen = list(reported)
    for key, node in components(cfg):
        target = node.get("_target_")
        if not isinstance(target, str):
            p.append(f"{key}._target_={target!r}: must be a dotted class path")
            continue
        try:
            rules = declared_rules(target)
        except Exception as e:  # noqa: BLE001 - any failure to import it is the same mistake for the user
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            p.append(
                f"{key}._target_={target}: cannot be imported ({reason}); check the spelling, or install "
                "the package that provides it"
            )
            continue
        if rules is None:
            continue
        try:
            p += rules(node, key, cfg)
        except InterpolationToMissingValueError:
            continue
        except InterpolationResolutionError as e:
            why = resolution_message(e)
            if not any(why in line for line in seen + p):
                p.append(f"{key}: {why}")
    return p


def check_config(cfg: DictConfig, rules: Iterable[Rule] = ()) -> None:
    """Raises :class:`ConfigError` listing every problem of the ``audio`` node, of the components and of
    ``rules``; returns quietly when none."""
    problems = audio_problems(cfg)
    problems += component_problems(cfg, problems)
    for rule in rules:
        problems += rule(cfg)
    if problems:
        raise ConfigError(*problems)
