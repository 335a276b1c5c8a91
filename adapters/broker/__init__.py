"""The message broker: envelope, topology (as data), publishers and consumers."""
