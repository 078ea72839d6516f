"""Training: configs and presets, data loading, the shared GAN loop, checkpoints, snapshots, DDP."""
