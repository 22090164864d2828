"""Traffic capture: a sampled, redacted copy of production exchanges kept as eval datasets."""
