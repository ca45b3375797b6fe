"""Use cases: a probe cycle and a guarded repair, wiring pure decisions to the adapters."""
