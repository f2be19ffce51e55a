from tortoise import migrations


class Migration(migrations.Migration):
    dependencies = [("ncm", "0008_billing")]

    initial = False

    operations: list = []
