"""The pipeline's processes for tests: `cli.processes` (shared with the demo, chaos, bench)."""

from cli.processes import ROOT, Pipeline

__all__ = ["ROOT", "Pipeline"]
