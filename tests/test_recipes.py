"""Each recipe's run.sh end to end on its --tiny generated corpus (prepare -> train -> export ->
synthesize -> evaluate). Slow: ~40-60 s a recipe on 2 CPU cores."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted(p.parent.name for p in (ROOT / "recipes").glob("*/run.sh"))
ALL_STAGES = {"demo", "finetune_custom"}  # the others run stages 1-3 (synthesize/evaluate are the same code)


def _run(recipe: str, runs: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("CORPUS", "PRETRAINED", "VAL_LIST")}
    return subprocess.run(
        ["bash", str(ROOT / "recipes" / recipe / "run.sh"), "--tiny", "--runs", str(runs), *args],
        cwd=runs.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_every_recipe_has_a_readme_and_is_tested():
    assert {"demo", "libritts_24k", "ljspeech_22k", "vctk_44k", "finetune_custom"} <= set(RECIPES)
    for name in RECIPES:
        readme = (ROOT / "recipes" / name / "README.md").read_text()
        assert "--tiny" in readme or name == "demo", name


@pytest.mark.slow
@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_tiny_run(recipe, tmp_path):
    runs = tmp_path / "runs"
    stop = [] if recipe in ALL_STAGES else ["--stop-stage", "3"]
    r = _run(recipe, runs, *stop)
    assert r.returncode == 0, f"{recipe}:\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}"
    run = runs / f"{recipe}_tiny"
    assert (run / "data" / "train.jsonl").is_file() and (run / "data" / "val.jsonl").is_file()
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert {"config.yaml", "pytorch_model.bin"} <= {p.name for p in (run / "export" / "vocos").iterdir()}
    if recipe in ALL_STAGES:
        assert list((run / "synth").glob("*.wav"))
        assert (run / "eval" / "report.md").is_file()
    if recipe == "finetune_custom":  # it really started from the generator-only vocos folder
        assert (run / "pretrained" / "pytorch_model.bin").is_file()
        assert "initialized generator from" in r.stdout + r.stderr


@pytest.mark.parametrize("recipe", [r for r in RECIPES if r != "demo"])
def test_recipe_without_corpus_says_where_to_get_it(recipe, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("CORPUS", "PRETRAINED")}
    if recipe == "finetune_custom":
        env["PRETRAINED"] = str(tmp_path)
    r = subprocess.run(
        [
            "bash",
            str(ROOT / "recipes" / recipe / "run.sh"),
            "--runs",
            str(tmp_path / "runs"),
            "--stop-stage",
            "1",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert "corpus not found" in r.stderr and f"recipes/{recipe}/README.md" in r.stderr


def test_finetune_recipe_needs_the_pretrained_folder(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("CORPUS", "PRETRAINED")}
    r = subprocess.run(
        ["bash", str(ROOT / "recipes" / "finetune_custom" / "run.sh"), "--runs", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "PRETRAINED" in r.stderr
