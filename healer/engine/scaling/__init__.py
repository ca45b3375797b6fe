"""The autoscaler cycle's stages that read: every metric of a service, from every source."""
