"""smslocker: a self-hosted virtual-number platform."""

__version__ = "0.1.0"
