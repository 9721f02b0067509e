"""Composition of the components into one stack, the same for every target."""
