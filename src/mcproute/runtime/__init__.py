"""Run time: the `Engine` that carries out one routed step per call, and its meta-tools."""

from mcproute.runtime.engine import Engine
from mcproute.runtime.results import StepResult, decision_summary

__all__ = ["Engine", "StepResult", "decision_summary"]
