from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from trackmaster.models.sessions import Platform
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0007_auto_20261201_1033')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ExpectedProperty',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('session', fields.ForeignKeyField('models.TestSession', source_field='session_id', db_constraint=True, to_field='id', related_name='expected_properties', on_delete=OnDelete.CASCADE)),
                ('event_id', fields.IntField()),
                ('digest', fields.CharField(max_length=32)),
                ('key', fields.TextField(unique=False)),
                ('reason', fields.TextField(default='', unique=False)),
                ('created_by', fields.CharField(default='', max_length=150)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'expected_property', 'app': 'models', 'unique_together': (('session', 'event_id', 'digest'),), 'pk_attr': 'id', 'table_description': "A tester's mark: this unplanned property of this event is expected in this session."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='UnplannedProperty',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('session', fields.ForeignKeyField('models.TestSession', source_field='session_id', db_constraint=True, to_field='id', related_name='unplanned', on_delete=OnDelete.CASCADE)),
                ('event_id', fields.IntField()),
                ('platform', fields.CharEnumField(description='IOS: iOS\nANDROID: Android\nOTHER: Other', enum_type=Platform, max_length=8)),
                ('digest', fields.CharField(max_length=32)),
                ('key', fields.TextField(unique=False)),
                ('path', fields.TextField(unique=False)),
                ('suggestion', fields.CharField(default='', max_length=500)),
                ('count', fields.BigIntField(default=0)),
                ('example_log_id', fields.BigIntField(default=0)),
                ('last_log_id', fields.BigIntField(default=0)),
            ],
            options={'table': 'unplanned_property', 'app': 'models', 'unique_together': (('session', 'event_id', 'platform', 'digest'),), 'pk_attr': 'id', 'table_description': 'A property caught events of a watched event sent that its plan does not list.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='ResultCell',
            name='n_caught',
            field=fields.BigIntField(default=0, db_default=0),
        ),
        # Events judged since the reset, for rows stored before the column: those with a
        # field verdict (an event of an event without fields was not counted then).
        ops.RunSQL(
            "UPDATE result_cell SET n_caught = n_success + n_fail + n_uncertain "
            "WHERE field_id = 0",
            reverse_sql="SELECT 1",
        ),
    ]
