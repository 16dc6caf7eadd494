"""Task loaders (local upstream files or tensorflow-datasets) and metrics."""
