from tortoise import migrations


class Migration(migrations.Migration):
    dependencies = [("ncm", "0009_playback")]

    initial = False

    operations: list = []  # reserved for this wave's work on security; filled by its issue
