"""Background work: the async worker pool (inside the web process), the Jet pull loop,
and the Kafka producer and consumer (Procfile processes)."""
