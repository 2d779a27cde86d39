"""Command lines of the project: each parses its arguments and calls components/."""

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from components.errors import UserError


@contextmanager
def reported_as(command: str) -> Iterator[None]:
    """Turn a UserError into one line on stderr ("command: file:line: why") and exit status 1."""
    try:
        yield
    except UserError as e:
        typer.echo(f"{command}: {e}", err=True)
        raise typer.Exit(1) from None
