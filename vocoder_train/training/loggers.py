"""Loggers that ``configs/logger/`` builds beyond Lightning's own: the Weights & Biases logger of
``configs/logger/wandb.yaml``. What each logger gets of the validation media: :mod:`.media`."""

from __future__ import annotations

from pytorch_lightning.loggers import WandbLogger
from pytorch_lightning.utilities import rank_zero_only


class ScopedWandbLogger(WandbLogger):
    """Lightning's ``WandbLogger`` whose W&B run ends with the fit. Lightning's leaves the run open
    until the process exits, so the next ``train()`` in the same process (Hydra's sequential
    multirun, tests) would log into it. Arguments: Lightning's (``offline``, ``project``, ``name``, ...)."""

    @rank_zero_only
    def finalize(self, status: str) -> None:
        super().finalize(status)
        run = self._experiment  # None when nothing was logged: there is no run to end
        if run is not None:
            run.finish(exit_code=1 if status == "failed" else 0)
