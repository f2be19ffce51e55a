"""Full-text search indexes over ``search_text`` (see ncm/search/indexes.py)."""

from tortoise import migrations
from tortoise.migrations import operations as ops

from ncm.search.indexes import migration_step

TABLES = ["tracks", "albums", "artists", "users"]


class Migration(migrations.Migration):
    dependencies = [("ncm", "0001_initial")]

    operations = [ops.RunPython(migration_step(TABLES), migration_step(TABLES, drop=True))]
