"""Prompt-injection / jailbreak detection: protocol data loaders, features, a trained classifier."""
