"""Imports run downward: cli/api -> training/evaluation -> models/losses/metrics/data/config ->
dsp/kernels/io/hardware.

Every module of the package is parsed (not imported), and every import it makes, at module level
or inside a function, is checked against the layers below (README.md's "Layout" draws them) and a few
sharper rules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "vocoder_train"
# Higher imports lower or equal, never higher.
TIERS = {
    "cli": 4,
    "api": 4,  # api.py: the console scripts' work as functions
    "training": 3,
    "evaluation": 3,  # copy-synthesis runs, reports, A/B comparisons, baselines, stream timing
    "models": 2,
    "losses": 2,
    "metrics": 2,
    "data": 2,
    "config": 2,
    "dsp": 1,
    "kernels": 1,
    "io": 1,
    "hardware": 1,
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, dotted name) of everything ``path`` imports; ``from a import b`` gives a and a.b."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            out.append((node.lineno, base))
            out += [(node.lineno, f"{base}.{a.name}") for a in node.names if a.name != "*"]
    return out


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
IMPORTS = {name: _imports(path) for name, path in MODULES.items()}


def _area(name: str) -> str:
    """``vocoder_train.models.generator`` -> ``models``; the package itself -> ``""``."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "vocoder_train" else ""


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _violations(rule) -> list[str]:
    """Every (importer, imported) pair for which ``rule(importer, imported)`` is true, as text."""
    found = set()
    for importer, imports in IMPORTS.items():
        for line, imported in imports:
            if rule(importer, imported):
                found.add(f"{MODULES[importer].relative_to(PACKAGE.parent)}:{line} imports {imported}")
    return sorted(found)


def test_every_area_of_the_package_has_a_layer():
    areas = {_area(n) for n in MODULES} - {""}
    assert areas <= set(TIERS), (
        f"give {sorted(areas - set(TIERS))} a place in TIERS (and in README.md's Layout)"
    )


def test_no_upward_imports():
    def upward(importer: str, imported: str) -> bool:
        a, b = _area(importer), _area(imported)
        return bool(a and b and a in TIERS and b in TIERS and TIERS[b] > TIERS[a])

    assert not _violations(upward)


@pytest.mark.parametrize(
    "importer, forbidden, why",
    [
        (
            "vocoder_train.losses",
            "vocoder_train.models",
            "losses take the head's math from dsp/, never models/",
        ),
        ("vocoder_train.config", "vocoder_train.training", "config checks run before any training code"),
        ("vocoder_train.config", "vocoder_train.models.inference", "config checks need no inference engine"),
        (
            "vocoder_train.metrics",
            "vocoder_train.evaluation",
            "metrics are math; evaluation runs and reports them",
        ),
        (
            "vocoder_train.data",
            "pytorch_lightning",
            "data/ is plain Python; training/ adapts it to Lightning",
        ),
        ("vocoder_train.data", "lightning", "data/ is plain Python; training/ adapts it to Lightning"),
        (
            "vocoder_train.training.run",
            "vocoder_train.models.inference",
            "training needs no inference engine",
        ),
    ],
)
def test_forbidden_imports(importer, forbidden, why):
    def rule(a: str, b: str) -> bool:
        return _within(a, importer) and _within(b, forbidden)

    assert not _violations(rule), why


def test_nothing_in_data_is_a_lightning_callback():
    callbacks = []
    for name, path in MODULES.items():
        if _area(name) != "data":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any("Callback" in ast.unparse(b) for b in node.bases):
                callbacks.append(f"{name}.{node.name}")
    assert not callbacks, "callbacks live in vocoder_train/training/ (callbacks.py, media.py, health.py)"


def test_the_parser_sees_imports():
    """The rules above would pass vacuously if nothing were found."""
    run = dict((b, line) for line, b in IMPORTS["vocoder_train.training.run"])
    assert "vocoder_train.training.module.VocoderGAN" in run
    assert _area("vocoder_train.models.generator") == "models" and _area("vocoder_train") == ""
