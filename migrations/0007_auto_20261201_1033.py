from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0006_auto_20261201_1019')]

    initial = False

    operations = [
        ops.CreateModel(
            name='RejudgeRun',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('session', fields.ForeignKeyField('models.TestSession', source_field='session_id', db_constraint=True, to_field='id', related_name='rejudge_runs', on_delete=OnDelete.CASCADE)),
                ('status', fields.CharField(default='queued', max_length=16)),
                ('total', fields.BigIntField(default=0)),
                ('done', fields.BigIntField(default=0)),
                ('changed', fields.BigIntField(default=0)),
                ('changes', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('error', fields.TextField(default='', unique=False)),
                ('started_by', fields.CharField(default='', max_length=150)),
                ('started_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'rejudge_run', 'app': 'models', 'indexes': [Index(fields=['session_id', 'id'])], 'pk_attr': 'id', 'table_description': "One re-judging of a session's stored events against the current plan, with progress."},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='VerdictOverride',
            name='rule_changed_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
