"""The `bmdkb` command: the group, the one place errors become exit statuses, and the commands
(one module each in cli/commands/) assembled."""
from __future__ import annotations

import os
import sys

import click

from bmdkb.engine.api import BmdkbError, exitstatus
from bmdkb.cli import commands
from bmdkb.cli.options import decided_status
from bmdkb.cli.render import escape


class _Group(click.Group):
    """Maps errors to the exit statuses of engine/common/exitstatus.py: 2 for bad input or a bad
    knowledge base (the message names file and field), 1 for a program defect, and the status
    the command decided (findings stay 3) when the reader of its output went away. Commands are
    imported when they run (cli/commands/__init__.py), so a cold `bmdkb evaluate` loads only its own."""

    def list_commands(self, ctx):
        """Every command's name, sorted (as click lists them)."""
        return sorted(set(commands.COMMANDS) | set(self.commands))

    def get_command(self, ctx, cmd_name):
        """The command, imported on first use."""
        command = self.commands.get(cmd_name) or commands.load(cmd_name)
        if command is not None:
            self.commands[cmd_name] = command
        return command

    def invoke(self, ctx):
        """Run the command; report a BmdkbError or a defect and exit with its status."""
        try:
            value = super().invoke(ctx)
            sys.stdout.flush()  # a broken pipe shows here, while the status can still be chosen
            return value
        except BmdkbError as exc:
            for line in str(exc).splitlines():
                click.echo(f"Error: {escape.text(line)}", err=True)
            ctx.exit(exc.exit_code)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError:  # the reader went away (`| head`): stop, keeping the status already decided
            _silence_stdout()
            ctx.exit(decided_status(ctx))
        except Exception as exc:  # a defect: short message, no traceback dump
            click.echo(f"bmdkb: internal error: {type(exc).__name__}: {escape.text(str(exc))}", err=True)
            click.echo("This is a defect of bmdkb; please report it with the command you ran.", err=True)
            ctx.exit(exitstatus.DEFECT)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's last flush cannot fail (and turn the status into 120)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real file descriptor (a test runner's stream)
        pass


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="bmdkb")
def cli():
    """bmdkb: cited, governed rules for interpreting serial DXA results.

    Evaluate a patient case against the knowledge base; every conclusion carries the rule that
    drew it, the facts it rested on and the source passage it comes from.
    """


def main():
    """The console entry point: run the group, keeping the exit status when stdout is cut short."""
    try:
        cli(prog_name="bmdkb")
    except SystemExit as exc:
        try:
            sys.stdout.flush()
        except BrokenPipeError:  # output cut short after the status was decided: keep that status
            _silence_stdout()
        raise exc


if __name__ == "__main__":
    main()
