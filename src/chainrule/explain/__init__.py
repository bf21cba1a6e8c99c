"""cr.explain: the chain rule, step by step (issue 5; being built)."""
