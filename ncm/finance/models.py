"""Tortoise models of the finance domain."""
