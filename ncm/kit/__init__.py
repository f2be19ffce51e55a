"""Plumbing every domain may use and none owns: the database and its one raw-SQL layer, jobs,
Redis, pub/sub, rate limits, pagination, text and id bounds, observability.

Nothing in ``ncm.kit`` imports a domain, a face (``ncm.schema``, ``ncm.cli``, ``ncm.http``) or
``ncm.app``: the dependency arrows point into it, never out.
"""
