"""Micro-randomized trials: the analysis of decision points."""
