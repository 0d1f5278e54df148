"""The `bmdkb` commands, one module each, in the order `bmdkb --help` has always listed them
(click sorts them by name anyway)."""
from __future__ import annotations

from bmdkb.cli.commands.batch import batch
from bmdkb.cli.commands.board import board
from bmdkb.cli.commands.diff import diff
from bmdkb.cli.commands.evaluate import evaluate
from bmdkb.cli.commands.explain import explain
from bmdkb.cli.commands.feedback import feedback
from bmdkb.cli.commands.fhir import fhir
from bmdkb.cli.commands.lint import lint
from bmdkb.cli.commands.release import release
from bmdkb.cli.commands.review import review
from bmdkb.cli.commands.serve import serve
from bmdkb.cli.commands.test import test_command
from bmdkb.cli.commands.validate import validate

COMMANDS = (evaluate, validate, review, explain, lint, test_command, release, diff, batch, fhir, serve, feedback,
            board)
