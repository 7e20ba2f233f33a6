"""mictl's exit codes, as click exceptions (shared by every command module)."""

from __future__ import annotations

import click

EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 1, 2, 3


class Failed(click.ClickException):
    exit_code = EXIT_FAILED


class Usage(click.ClickException):
    exit_code = EXIT_USAGE


class Unreachable(click.ClickException):
    exit_code = EXIT_UNREACHABLE


EXIT_PROXY = 4  # the profile's proxy gave no way to the site (a one-shot tool)


class ProxyFailed(click.ClickException):
    exit_code = EXIT_PROXY
