"""What the autoscaler measures outside the healer's own Redis: an application's own Celery
broker (Redis or RabbitMQ) and any Prometheus query."""
