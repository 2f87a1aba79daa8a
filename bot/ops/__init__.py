"""Operations: the Prometheus metrics, the Discord request meter and the log formats."""
