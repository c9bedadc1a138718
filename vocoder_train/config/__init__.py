"""Config checks, resolvers and the location of the shipped Hydra configs."""

from pathlib import Path

CONFIG_DIR = str(Path(__file__).resolve().parent.parent.parent / "configs")
