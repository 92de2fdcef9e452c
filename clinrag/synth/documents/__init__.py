"""The documents of a synthetic patient's record, one module per document type.

:mod:`~clinrag.synth.documents.writer` holds the pen they all share (random source, headers, signatures,
paragraphs copied forward); :mod:`~clinrag.synth.documents.record` decides which documents a course calls for.
"""
