"""Text processing: edsnlp annotations (sentences, sections, qualified mentions) and passages."""

from __future__ import annotations
