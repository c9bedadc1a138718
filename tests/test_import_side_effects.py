"""Importing the package (every module of it) changes no process-wide state; the entry points do."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = r"""
import json, os, pkgutil, importlib
import numba, scipy.signal, torch
from omegaconf import OmegaConf
def state():
    return {
        "resolver_mul": OmegaConf.has_resolver("mul"),
        "scipy_cosine": hasattr(scipy.signal, "cosine"),
        "numba_layer": str(numba.config.THREADING_LAYER),
        "torch_threads": torch.get_num_threads(),
        "env": sorted(k for k in os.environ if k.startswith(("NUMBA", "OMP", "MKL", "HYDRA"))),
    }
before = state()
import vocoder_train
names = [m.name for m in pkgutil.walk_packages(vocoder_train.__path__, "vocoder_train.")]
for name in names:
    importlib.import_module(name)
after_import = state()
from vocoder_train.config.runtime import setup
setup()
print(json.dumps({"before": before, "after_import": after_import, "after_setup": state(), "modules":
len(names)}))
"""


def test_importing_every_module_changes_no_global_state():
    env = {k: v for k, v in __import__("os").environ.items() if k != "NUMBA_THREADING_LAYER"}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["modules"] > 30
    assert res["after_import"] == res["before"]
    # the entry points' setup is what registers the resolver and picks numba's layer
    assert res["after_setup"]["resolver_mul"] is True
    assert res["after_setup"]["numba_layer"] == "workqueue"
    assert res["after_setup"]["scipy_cosine"] is True
