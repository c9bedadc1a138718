"""Composing the run config from command-line overrides, with one line per mistake.

Hydra reports a mistyped key as "Could not override 'trainer.max_step'. To append to your config use
+trainer.max_step=300", advice that then fails inside Lightning, and a mistyped option as a list of
every option. :func:`compose_checked` composes the config the way ``vocoder-train`` does and turns
those errors and the config checks into :class:`~vocoder_train.config.checks.ConfigError` lines that
name the key or option at fault and the closest valid one, before anything is written to disk.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator, Sequence

from omegaconf import DictConfig

from vocoder_train.config import CONFIG_DIR
from vocoder_train.config.checks import ConfigError, check_config

_BAD_KEY = re.compile(r"Could not override '([^']+)'")
_BAD_OPTION = re.compile(r"Could not find '([^']+)/([^'/]+)'")


def dotted_keys(node, prefix: str = "") -> Iterator[str]:
    """Every key of ``node`` as a dotted path, parents before children."""
    if isinstance(node, DictConfig):
        for k in node.keys():
            path = f"{prefix}.{k}" if prefix else str(k)
            yield path
            yield from dotted_keys(node._get_node(k), path)


def closest(word: str, candidates: Sequence[str]) -> str | None:
    """The candidate most like ``word`` (difflib's ratio >= 0.6), or None."""
    found = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return found[0] if found else None


def _compose(overrides: Sequence[str]) -> DictConfig:
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        return compose("train", overrides=list(overrides))


def _options(group: str) -> list[str]:
    from pathlib import Path

    return sorted(p.stem for p in (Path(CONFIG_DIR) / group).glob("*.yaml"))


def _explain(message: str, overrides: Sequence[str]) -> str:
    """One line for a Hydra composition error: the override at fault and the closest valid choice."""
    if m := _BAD_OPTION.search(message):
        group, option = m.groups()
        options = _options(group)
        near = closest(option, options)
        hint = f"did you mean {group}={near}?" if near else f"options: {', '.join(options)}"
        return f"{group}={option}: no such option in configs/{group}/; {hint}"
    if m := _BAD_KEY.search(message):
        key = m.group(1)
        rest = [o for o in overrides if not o.lstrip("+~").startswith(key + "=") and o.lstrip("+~") != key]
        try:
            keys = list(dotted_keys(_compose(rest)))
        except Exception:  # noqa: BLE001 - another override is also wrong: report this one plainly
            keys = []
        near = closest(key, keys)
        hint = f"did you mean {near}?" if near else "vocoder-train --cfg job prints every key"
        return f"{key}: no such key in the config; {hint}"
    return " ".join(line.strip() for line in message.strip().splitlines() if line.strip())


def compose_checked(
    overrides: Sequence[str], check: Callable[[DictConfig], None] = check_config
) -> DictConfig:
    """The config for ``overrides`` composed and passed to ``check`` (by default the checks of the
    ``audio`` node and the components: ``vocoder-train`` passes its own with every section's rules);
    raises :class:`ConfigError` whose message is one line per problem."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        cfg = _compose(overrides)
    except (HydraException, OmegaConfBaseException) as e:
        raise ConfigError(_explain(str(e), overrides)) from None
    check(cfg)
    return cfg
