"""Seed data: the demo catalog (``ncm seed demo``) and benchmark-scale data (``ncm seed
scale``: catalog, users, comments).

- :mod:`.demo`, :mod:`.demo_data`: a small believable catalog through the catalog importer,
  with audio synthesized here, and the demo users.
- :mod:`.scale`: the one entry point of the scale data, :func:`~.scale.seed_scale`.
- :mod:`.catalog` (artists, albums, tracks and their links, users) and :mod:`.comments`
  (threads, replies, likes): the generators, PostgreSQL only.
- :mod:`.words` and ``words/*.txt``: the word lists names and titles are built from;
  :mod:`.names` and :mod:`.rows` turn them into names, titles and rows.
"""
