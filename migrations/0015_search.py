from tortoise import migrations


class Migration(migrations.Migration):
    dependencies = [("ncm", "0014_promotion")]

    initial = False

    operations: list = []  # reserved for this wave's work on search; filled by its issue
