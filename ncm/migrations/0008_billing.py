from tortoise import migrations


class Migration(migrations.Migration):
    dependencies = [("ncm", "0007_search_vectors")]

    initial = False

    operations: list = []
