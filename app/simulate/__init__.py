"""The protocol simulator: synthetic participants run a whole study through the real code."""
