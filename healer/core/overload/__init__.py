"""Evidence that the host or its engine is overloaded, judged purely (the repair-storm brake
engages only on it)."""
