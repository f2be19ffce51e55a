"""Tortoise models of the compensation domain."""
