"""The search index of playlists (see ncm/search/indexes.py)."""

from tortoise import migrations
from tortoise.migrations import operations as ops

from ncm.search.indexes import migration_step

TABLES = ["playlists"]


class Migration(migrations.Migration):
    dependencies = [("ncm", "0003_playlists")]

    operations = [ops.RunPython(migration_step(TABLES), migration_step(TABLES, drop=True))]
