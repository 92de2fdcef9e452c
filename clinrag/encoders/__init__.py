"""Encoder-side models built on local BERT-class encoders: the segment encoder + BiLSTM + task heads
(:mod:`clinrag.encoders.segment`) and its uses (:mod:`clinrag.encoders.entities`: clinical entities)."""
