from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0005_auto_20261201_0946')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Field',
            name='local_rules',
            field=fields.JSONField(null=True, default=dict, encoder=JSON_DUMPS, decoder=loads),
        ),
        ops.AddField(
            model_name='Field',
            name='rules',
            field=fields.JSONField(null=True, default=dict, encoder=JSON_DUMPS, decoder=loads),
        ),
    ]
