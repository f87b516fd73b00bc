"""``python -m smslocker`` runs the command line."""

from smslocker.cli import app

app(prog_name="smslocker")
