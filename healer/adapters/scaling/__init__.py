"""The autoscaler's edges: usage metrics, queue depth and drain, its state, the trigger."""
