"""Ingest, de-duplication, routing to rentals, inbox and OTP extraction."""
