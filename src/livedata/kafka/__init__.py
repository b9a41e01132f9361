"""Kafka: connection settings, topics, the consumer thread, the producer sink, ingress routing."""
