"""``chainrule train`` (issue 6; being built)."""


def add_train_command(subparsers):
    """Register ``chainrule train``."""
