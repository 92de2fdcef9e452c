"""clinrag: fill clinical registry tables from French hospital documents, every value with its evidence."""

from __future__ import annotations

__version__ = "0.1.0"
