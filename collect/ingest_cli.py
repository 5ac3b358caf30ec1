"""Placeholder until this part's owner writes its subcommands."""


def register(subparsers) -> None:
    pass
