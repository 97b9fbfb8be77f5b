"""Fakes of external services that tests start locally."""
