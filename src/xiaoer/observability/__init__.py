"""What operators watch: Prometheus metrics for the HTTP app (`metrics.py`)."""
