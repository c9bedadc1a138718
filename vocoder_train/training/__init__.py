"""The LightningModule and callbacks: orchestration, no layers."""
