"""Training-side code: data contract, validation, import, augmentation, splits, baselines."""
