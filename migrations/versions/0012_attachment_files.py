"""attachment files: bodies move out of the rows into ATTACHMENTS_DIR, named by their SHA-256

attachments gains storage_key (the file's name in the folder: its SHA-256 in hex, filed under
ab/cd/) and sha256; data becomes nullable. Every body already in a row is written to its file and
the row's data set to NULL, in batches. The folder is the app's ATTACHMENTS_DIR, else
<instance>/attachments (Flask-Migrate runs this inside the app, so current_app is there); outside
an app, the ATTACHMENTS_DIR environment variable, else instance/attachments. Nothing here imports
the portal: the layout below must match portal/tickets/attachments.py.

Downgrade reads each file back into its row, then drops the columns (the files are left in place).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 10:30:00

"""
import hashlib
import os
import tempfile
from pathlib import Path

import sqlalchemy as sa
from alembic import op
from flask import current_app

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

BATCH = 50


def _folder() -> Path:
    try:
        configured = current_app.config.get("ATTACHMENTS_DIR")
        return Path(configured) if configured else Path(current_app.instance_path) / "attachments"
    except RuntimeError:  # outside an app
        return Path(os.environ.get("ATTACHMENTS_DIR") or Path("instance") / "attachments")


def _path(folder: Path, key: str) -> Path:
    return folder / key[:2] / key[2:4] / key


def _write(folder: Path, data: bytes) -> str:
    key = hashlib.sha256(data).hexdigest()
    path = _path(folder, key)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    return key


_attachments = sa.table('attachments', sa.column('id', sa.Integer), sa.column('data', sa.LargeBinary),
                        sa.column('storage_key', sa.String), sa.column('sha256', sa.String))


def upgrade():
    with op.batch_alter_table('attachments') as batch:
        batch.add_column(sa.Column('storage_key', sa.String(length=80), nullable=True))
        batch.add_column(sa.Column('sha256', sa.String(length=64), nullable=True))
        batch.alter_column('data', existing_type=sa.LargeBinary(), nullable=True)
    bind = op.get_bind()
    folder = _folder()
    last = 0
    while True:
        rows = bind.execute(sa.select(_attachments.c.id, _attachments.c.data)
                            .where(_attachments.c.id > last, _attachments.c.storage_key.is_(None),
                                   _attachments.c.data.is_not(None))
                            .order_by(_attachments.c.id).limit(BATCH)).all()
        if not rows:
            break
        for row_id, data in rows:
            key = _write(folder, bytes(data))
            bind.execute(_attachments.update().where(_attachments.c.id == row_id)
                         .values(storage_key=key, sha256=key, data=None))
            last = row_id


def downgrade():
    bind = op.get_bind()
    folder = _folder()
    rows = bind.execute(sa.select(_attachments.c.id, _attachments.c.storage_key)
                        .where(_attachments.c.storage_key.is_not(None))).all()
    for row_id, key in rows:
        path = _path(folder, key)
        data = path.read_bytes() if path.exists() else b""
        bind.execute(_attachments.update().where(_attachments.c.id == row_id).values(data=data))
    bind.execute(_attachments.update().where(_attachments.c.data.is_(None)).values(data=b""))
    with op.batch_alter_table('attachments') as batch:
        batch.alter_column('data', existing_type=sa.LargeBinary(), nullable=False)
        batch.drop_column('sha256')
        batch.drop_column('storage_key')
