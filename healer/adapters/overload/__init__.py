"""Reading the host's overload evidence (PSI, the engine's health logs)."""
