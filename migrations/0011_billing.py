from tortoise import migrations


class Migration(migrations.Migration):
    dependencies = [("ncm", "0010_security")]

    initial = False

    operations: list = []  # reserved for this wave's work on billing; filled by its issue
