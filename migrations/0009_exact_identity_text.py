"""Message ids and first-seen values compare exactly on MariaDB, as they do in Python.

MariaDB's collations pad with spaces (even `utf8mb4_bin`) and the default `*_ci` one
folds case, so its unique indexes took "m-1 " or "M-1" for the stored "m-1", which the
de-duplication (exact, in Python) did not: the INSERT failed with 1062 on every retry
and the batch's honest events were never stored. A coverage value "Home" beside "home"
was dropped the same way. `utf8mb4_nopad_bin` compares bytes. SQLite compares text
exactly already (BINARY), so there is nothing to do there.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops

# table, column, its type as the models declare it, whether it may be NULL
_COLUMNS = (
    ("event_log", "message_id", "VARCHAR(128)", True),
    ("coverage_value", "value", "VARCHAR(255)", False),
)


def _statements(collation: str | None) -> list[str]:
    statements = []
    for table, column, kind, nullable in _COLUMNS:
        collate = f" COLLATE {collation}" if collation else ""
        null = "NULL" if nullable else "NOT NULL"
        statements.append(
            f"ALTER TABLE `{table}` MODIFY `{column}` {kind} CHARACTER SET utf8mb4{collate} {null}"
        )
    return statements


async def _run(schema_editor, collation: str | None) -> None:
    client = schema_editor.client
    if client.capabilities.dialect != "mysql":
        return
    for statement in _statements(collation):
        await client.execute_script(statement)


async def exact(apps, schema_editor) -> None:
    await _run(schema_editor, "utf8mb4_nopad_bin")


async def as_before(apps, schema_editor) -> None:
    await _run(schema_editor, None)  # the table's default collation again


class Migration(migrations.Migration):
    dependencies = [("models", "0008_auto_20261201_1224")]

    initial = False

    operations = [ops.RunPython(exact, as_before)]
