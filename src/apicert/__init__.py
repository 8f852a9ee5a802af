"""apicert: contract and compliance test harness for fintech vendor APIs."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
