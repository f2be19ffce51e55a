"""Benchmarks for ncm: a data generator at scale and HTTP load tests (see bench/README.md)."""
