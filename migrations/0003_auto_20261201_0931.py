from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0002_auto_20261201_0924')]

    initial = False

    operations = [
        ops.CreateModel(
            name='JetStagedLog',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('session', fields.ForeignKeyField('models.TestSession', source_field='session_id', db_constraint=True, to_field='id', related_name='jet_staged', on_delete=OnDelete.CASCADE)),
                ('jet_id', fields.CharField(null=True, max_length=128)),
                ('item', fields.TextField(unique=False)),
                ('staged_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'jet_staged_log', 'app': 'models', 'unique_together': (('session', 'jet_id'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
