"""Tortoise models of the incidents domain."""
