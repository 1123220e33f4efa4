"""Evaluation metrics shared by the chapters (``lines``: the ACAI lines benchmark's Mean Distance and Smoothness)."""
