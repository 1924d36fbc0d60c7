"""Tenure: self-hosted subscription billing whose customer portal keeps customers."""

__version__ = "0.1.0"
