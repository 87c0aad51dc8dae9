"""Simulated instruments, one module per model family, all reading the shared physical model."""
