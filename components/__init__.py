"""Reusable ComponentResources, one per backing service."""
