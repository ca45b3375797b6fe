"""The autoscaling cycle and bringing a service to N replicas."""
