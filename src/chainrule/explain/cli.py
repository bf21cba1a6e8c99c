"""The tour and ``chainrule explain`` (issue 5; being built)."""


def add_tour_arguments(parser):
    """Add the tour's options to the top-level ``chainrule`` parser."""


def add_explain_command(subparsers):
    """Register ``chainrule explain``."""


def run_tour(args):
    """Run the tour; returns the exit status."""
    raise NotImplementedError("the chainrule tour is being built (issue 5)")
