"""Stockroom's shared layer: models, settings, caching, data access and HTTP plumbing."""
