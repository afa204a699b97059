"""Carrying out a step: model call, validation and cascade, downstream call, state advance."""
