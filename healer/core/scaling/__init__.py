"""Autoscaling decisions, pure: labels, HPA-style policy, the between-cycles trigger."""
