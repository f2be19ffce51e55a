"""Tortoise models of the promotion domain."""
