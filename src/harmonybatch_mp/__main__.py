"""``python -m harmonybatch_mp`` runs the command-line interface."""

from .cli import run

run()
