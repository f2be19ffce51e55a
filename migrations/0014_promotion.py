from tortoise import migrations


class Migration(migrations.Migration):
    dependencies = [("ncm", "0013_finance")]

    initial = False

    operations: list = []  # reserved for this wave's work on promotion; filled by its issue
