"""Adapters to the outside world (telephony), each behind a small protocol."""
