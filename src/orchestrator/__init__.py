"""The gateway's lifecycle: starting and stopping its components, and reconciling the
records that outlived what they belonged to."""

from .main_orchestrator import MainOrchestrator, ReconcileReport

__all__ = ["MainOrchestrator", "ReconcileReport"]
