"""Local infrastructure: a real single-node Kafka broker from Maven Central jars."""
