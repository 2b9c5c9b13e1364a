"""The workflow engine: run state, steps, rendering and plugin discovery."""

from .store import Run, RunStore
from .workflow import Invalid, Step, Workflow

__all__ = ["Invalid", "Run", "RunStore", "Step", "Workflow"]
