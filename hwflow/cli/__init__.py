"""The ``hwflow`` command: click commands only (parse, call the library, print).

Each command group lives in its own module; library modules are imported inside the
commands so that ``hwflow evaluate`` never pays for torch.
"""

from __future__ import annotations

import sys

import click

from hwflow.errors import HwflowError


class HwflowGroup(click.Group):
    """Turns user errors, and files that cannot be written or read, into one line and a
    non-zero exit (a traceback only with --debug)."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except HwflowError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except OSError as exc:  # a path the user gave cannot be written or read (as asked)
            if exc.filename is None or (ctx.obj and ctx.obj.get("debug")):
                raise
            click.echo(f"error: {exc.filename}: {exc.strerror}", err=True)
            sys.exit(2)


@click.group(cls=HwflowGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.version_option(package_name="hwflow")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """hwflow: find layer-wise bitwidths and accelerator settings that trade accuracy
    against energy, latency and area (HW-FlowQ)."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def _register() -> None:
    from hwflow.cli import hardware, search, sweep, training

    for module in (hardware, training, search, sweep):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
