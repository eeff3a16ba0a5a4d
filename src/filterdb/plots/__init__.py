"""Figures of the study. Each function takes tables/arrays and returns a matplotlib Figure."""
