"""Counts over time and by category for the command center's charts."""
