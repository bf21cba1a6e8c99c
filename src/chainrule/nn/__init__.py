"""cr.nn: modules, losses, initialisers (issue 6; being built)."""
