from tortoise import migrations


class Migration(migrations.Migration):
    dependencies = [("ncm", "0011_billing")]

    initial = False

    operations: list = []  # reserved for this wave's work on compensation; filled by its issue
