"""Durations: the one syntax every setting, label and CLI option reads."""
