from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from trackmaster.models.sessions import Platform, Verdict
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0003_auto_20261201_0931')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CellValue',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('session', fields.ForeignKeyField('models.TestSession', source_field='session_id', db_constraint=True, to_field='id', related_name='cell_values', on_delete=OnDelete.CASCADE)),
                ('event_id', fields.IntField()),
                ('field_id', fields.IntField()),
                ('platform', fields.CharEnumField(description='IOS: iOS\nANDROID: Android\nOTHER: Other', enum_type=Platform, max_length=8)),
                ('digest', fields.CharField(max_length=32)),
                ('kind', fields.CharField(max_length=8)),
                ('value', fields.TextField(null=True, unique=False)),
                ('verdict', fields.CharEnumField(description='SUCCESS: SUCCESS\nFAIL: FAIL\nUNCERTAIN: UNCERTAIN\nUNTESTED: UNTESTED', enum_type=Verdict, max_length=16)),
                ('code', fields.CharField(default='', max_length=32)),
                ('reason', fields.CharField(default='', max_length=500)),
                ('count', fields.BigIntField(default=0)),
                ('example_log_id', fields.BigIntField(default=0)),
            ],
            options={'table': 'cell_value', 'app': 'models', 'unique_together': (('session', 'event_id', 'field_id', 'platform', 'digest'),), 'pk_attr': 'id', 'table_description': 'A distinct value a cell has seen since its reset, with its count and an example log.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ResultCell',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('session', fields.ForeignKeyField('models.TestSession', source_field='session_id', db_constraint=True, to_field='id', related_name='cells', on_delete=OnDelete.CASCADE)),
                ('event_id', fields.IntField()),
                ('field_id', fields.IntField()),
                ('platform', fields.CharEnumField(description='IOS: iOS\nANDROID: Android\nOTHER: Other', enum_type=Platform, max_length=8)),
                ('caught', fields.BigIntField(default=0)),
                ('n_success', fields.BigIntField(default=0)),
                ('n_fail', fields.BigIntField(default=0)),
                ('n_uncertain', fields.BigIntField(default=0)),
                ('o_success', fields.BigIntField(default=0)),
                ('o_fail', fields.BigIntField(default=0)),
                ('o_uncertain', fields.BigIntField(default=0)),
                ('other_values', fields.BigIntField(default=0)),
                ('success_reason', fields.CharField(default='', max_length=500)),
                ('fail_reason', fields.CharField(default='', max_length=500)),
                ('fail_code', fields.CharField(default='', max_length=32)),
                ('uncertain_reason', fields.CharField(default='', max_length=500)),
                ('uncertain_code', fields.CharField(default='', max_length=32)),
                ('last_log_id', fields.BigIntField(default=0)),
                ('override_id', fields.BigIntField(null=True)),
                ('override_verdict', fields.CharEnumField(null=True, description='SUCCESS: SUCCESS\nFAIL: FAIL\nUNCERTAIN: UNCERTAIN\nUNTESTED: UNTESTED', enum_type=Verdict, max_length=16)),
            ],
            options={'table': 'result_cell', 'app': 'models', 'unique_together': (('session', 'event_id', 'field_id', 'platform'),), 'pk_attr': 'id', 'table_description': 'One results cell (session x event x field x platform): its counts per verdict.'},
            bases=['Model'],
        ),
    ]
