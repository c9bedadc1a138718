"""README.md's examples run as written.

Every line of the README's fenced shell blocks that starts with one of the console scripts is run
in order, through the installed entry point, in a scratch folder that holds tiny generated data
under the README's paths: a corpus where it says ``/data/my_speaker``, a generator-only vocos
folder where it says ``/models/vocos-mel-24khz``, and ``corpus/``, ``tts_mels/``, ``recordings/``
relative to the working directory. The lines run in README order, so ``vocoder-prepare`` writes the
manifests that ``vocoder-train`` reads and ``vocoder-train`` writes the checkpoint that
``vocoder-export`` exports. ``vocoder-train`` lines get overrides appended that shrink the run to a
tiny model and a few steps. The README's Python blocks then run in the same folder. A flag, a
config key or a function the README names but the code lacks fails here.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import sys
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers.audio import tone

README = Path(__file__).resolve().parent.parent / "README.md"
SCRIPTS = (
    "vocoder-prepare",
    "vocoder-train",
    "vocoder-export",
    "vocoder-synthesize",
    "vocoder-evaluate",
    "vocoder-frontend-check",
)
RATE = 24000  # the README's examples are 24 kHz, 100-mel, hop-256 models
# The README's absolute placeholder paths -> folders under the scratch directory.
PLACEHOLDERS = {"/data/my_speaker": "my_speaker_audio", "/models/vocos-mel-24khz": "vocos-mel-24khz"}
# Appended to every vocoder-train line: the tiny model, CPU, 1 discriminator-only + 1 GAN iteration.
TINY_TRAIN = [
    "model/generator=tiny",
    "model/discriminator=tiny",
    "trainer.accelerator=cpu",
    "trainer.devices=1",
    "trainer.precision=32-true",
    "trainer.max_steps=3",
    "trainer.val_check_interval=2",
    "trainer.limit_val_batches=1",
    "trainer.max_time=null",
    "trainer.enable_progress_bar=false",
    "callbacks.progress_bar=null",
    "model.optim.pretrain_mel_steps=0",
    "model.optim.disc_warmup_steps=1",
    "validation.metrics=[]",
    "data.batch_size=2",
    "data.val_batch_size=2",
    "data.num_workers=0",
    "data.persistent_workers=false",
    "audio.segment_length=4096",
    "data.val_segment_length=${audio.segment_length}",
]

pytestmark = pytest.mark.slow  # trains three tiny runs and exports twice: ~30-60 s on 2 cores


def fenced_blocks(text: str, languages: tuple[str, ...]) -> list[str]:
    """The bodies of the ```lang fenced blocks of a Markdown text, for lang in ``languages``."""
    pattern = re.compile(r"^```([\w-]*)[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
    return [m.group(2) for m in pattern.finditer(text) if m.group(1) in languages]


def tool_commands(block: str) -> list[list[str]]:
    """Shell block -> argv of each command line that starts with a console script (backslash
    continuations joined, comments dropped)."""
    joined = re.sub(r"\\\n", " ", block)
    commands = []
    for line in joined.splitlines():
        argv = shlex.split(line, comments=True)
        if argv and argv[0] in SCRIPTS:
            commands.append(argv)
    return commands


def readme_commands() -> list[list[str]]:
    text = README.read_text()
    return [argv for block in fenced_blocks(text, ("bash", "sh", "shell")) for argv in tool_commands(block)]


def substitute(argv: list[str], root: Path) -> list[str]:
    """Maps the README's absolute placeholder paths (a whole argument, or the value of key=...)."""
    out = []
    for arg in argv:
        for placeholder, local in PLACEHOLDERS.items():
            arg = re.sub(rf"(^|=){re.escape(placeholder)}(?=/|$)", rf"\g<1>{root / local}", arg)
        out.append(arg)
    return out


def run_tool(argv: list[str]) -> tuple[int, str]:
    """Runs a console script in this process through its entry point, as the shell would call it;
    returns (exit status, captured output)."""
    (ep,) = [e for e in entry_points(group="console_scripts") if e.name == argv[0]]
    main = ep.load()
    buf, saved = io.StringIO(), sys.argv
    sys.argv = list(argv)
    try:
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            try:
                code = main()
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except Exception as e:  # a crash is a failing README line, reported with the others
        return 1, f"{buf.getvalue()}\n{type(e).__name__}: {e}"
    finally:
        sys.argv = saved
    return int(code or 0), buf.getvalue()


def make_workspace(root: Path) -> None:
    """The data the README's examples expect, tiny and generated."""
    import yaml
    from hydra import compose, initialize_config_dir
    from vocos import Vocos

    from vocoder_train.config import CONFIG_DIR
    from vocoder_train.io.audio import save_audio
    from vocoder_train.models.generator import to_vocos_config

    for i in range(8):  # /data/my_speaker: mixed formats and channel counts
        ext, channels = (".wav", 1) if i % 2 else (".flac", 1 + (i == 2))
        audio = tone(RATE, 1.0 + 0.1 * i, 100 + 30 * i, channels, seed=i)
        save_audio(root / "my_speaker_audio" / f"utt{i}{ext}", audio, RATE)
    # /models/vocos-mel-24khz: a generator-only vocos folder (the tiny generator at the released
    # model's signal settings), written by vocos itself as the released one is
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=["experiment=finetune", "model/generator=tiny"])
    pretrained = root / "vocos-mel-24khz"
    pretrained.mkdir()
    (pretrained / "config.yaml").write_text(yaml.safe_dump(to_vocos_config(cfg.model.generator)))
    torch.manual_seed(0)
    vocos = Vocos.from_hparams(str(pretrained / "config.yaml")).eval()
    torch.save(vocos.state_dict(), pretrained / "pytorch_model.bin")
    # corpus/ + tts_mels/: audio and the "TTS model's" mel of each (here: the vocoder's own front end)
    for i, name in enumerate("abcdef"):
        audio = tone(RATE, 1.0 + 0.1 * i, 120 + 25 * i, seed=10 + i)
        save_audio(root / "corpus" / f"{name}.wav", audio, RATE)
        with torch.inference_mode():
            mel = vocos.feature_extractor(audio)[0].numpy()
        (root / "tts_mels").mkdir(exist_ok=True)
        np.save(root / "tts_mels" / f"{name}.npy", mel)
    for i in range(2):
        save_audio(root / "recordings" / f"rec{i}.wav", tone(RATE, 1.2, 150 + 60 * i, seed=20 + i), RATE)


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory) -> dict:
    """Runs every README tool line in order in one scratch folder; (argv, status, output) each."""
    root = tmp_path_factory.mktemp("readme")
    make_workspace(root)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        results = []
        for argv in readme_commands():
            full = substitute(argv, root) + (TINY_TRAIN if argv[0] == "vocoder-train" else [])
            code, output = run_tool(full)
            results.append((argv, code, output))
    finally:
        os.chdir(cwd)
    return {"root": root, "results": results}


def test_readme_names_every_tool():
    used = {argv[0] for argv in readme_commands()}
    assert used == set(SCRIPTS), f"README shell blocks lack examples of {sorted(set(SCRIPTS) - used)}"


def test_readme_tool_lines_run(readme_run):
    failed = [
        f"$ {shlex.join(argv)}\n  exit {code}: " + "\n  ".join(output.strip().splitlines()[-6:])
        for argv, code, output in readme_run["results"]
        if code != 0
    ]
    assert not failed, "README lines that fail:\n" + "\n".join(failed)
    root = readme_run["root"]
    assert (root / "runs/my_speaker/checkpoints/last.ckpt").is_file()
    assert (root / "runs/my_speaker/.hydra/config.yaml").is_file()
    assert any((root / "runs/my_speaker/tensorboard").iterdir())


def test_readme_python_blocks_run(readme_run, monkeypatch):
    """The Python blocks, after the shell lines (they use the exports); ``train`` gets the tiny overrides."""
    import vocoder_train.api as api

    real_train = api.train
    monkeypatch.setattr(api, "train", lambda overrides=(): real_train([*overrides, *TINY_TRAIN]))
    monkeypatch.chdir(readme_run["root"])
    blocks = fenced_blocks(README.read_text(), ("python",))
    assert blocks, "README has no Python example"
    for i, block in enumerate(blocks):
        exec(compile(block, f"README.md, Python block {i + 1}", "exec"), {"__name__": "readme_example"})
