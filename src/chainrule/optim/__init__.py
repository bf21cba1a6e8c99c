"""cr.optim (issue 6; being built)."""
