from tortoise import migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("ncm", "0005_comments")]

    initial = False

    operations = [
        ops.AddIndex(
            model_name="Artist",
            index=Index(fields=["name"]),
        ),
    ]
