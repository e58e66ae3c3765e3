"""knowledge base: articles, their revisions, tags and "did this help?" answers

articles (slug, title, Markdown body, public or internal, owner, the ticket it was saved from),
article_tags (one lower-case tag per row, indexed), article_revisions (each save, numbered per
article) and article_feedback (one answer per article and person or browser).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 10:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

VISIBILITY = ('public', 'internal')


def upgrade():
    op.create_table(
        'articles',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('slug', sa.String(length=100), nullable=False),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('visibility', sa.Enum(*VISIBILITY, name='visibility', native_enum=False, length=20),
                  nullable=False),
        sa.Column('owner_id', sa.Integer(), nullable=True),
        sa.Column('source_ticket_id', sa.Integer(), nullable=True),
        sa.Column('revision', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name='fk_articles_owner_id_users'),
        sa.ForeignKeyConstraint(['source_ticket_id'], ['tickets.id'], name='fk_articles_source_ticket_id_tickets',
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name='pk_articles'),
        sa.UniqueConstraint('slug', name='uq_articles_slug'),
    )
    op.create_index('ix_articles_source_ticket_id', 'articles', ['source_ticket_id'], unique=False)
    op.create_index('ix_articles_updated_at', 'articles', ['updated_at'], unique=False)
    op.create_table(
        'article_tags',
        sa.Column('article_id', sa.Integer(), nullable=False),
        sa.Column('tag', sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(['article_id'], ['articles.id'], name='fk_article_tags_article_id_articles',
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('article_id', 'tag', name='pk_article_tags'),
    )
    op.create_index('ix_article_tags_tag', 'article_tags', ['tag'], unique=False)
    op.create_table(
        'article_revisions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('article_id', sa.Integer(), nullable=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('tags', sa.Text(), nullable=False),
        sa.Column('visibility', sa.Enum(*VISIBILITY, name='visibility', native_enum=False, length=20),
                  nullable=False),
        sa.Column('author_id', sa.Integer(), nullable=True),
        sa.Column('note', sa.String(length=200), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['article_id'], ['articles.id'], name='fk_article_revisions_article_id_articles',
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['author_id'], ['users.id'], name='fk_article_revisions_author_id_users'),
        sa.PrimaryKeyConstraint('id', name='pk_article_revisions'),
        sa.UniqueConstraint('article_id', 'n', name='uq_article_revisions_article_id'),
    )
    op.create_table(
        'article_feedback',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('article_id', sa.Integer(), nullable=False),
        sa.Column('voter', sa.String(length=80), nullable=False),
        sa.Column('helpful', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['article_id'], ['articles.id'], name='fk_article_feedback_article_id_articles',
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name='pk_article_feedback'),
        sa.UniqueConstraint('article_id', 'voter', name='uq_article_feedback_article_id'),
    )


def downgrade():
    op.drop_table('article_feedback')
    op.drop_table('article_revisions')
    op.drop_index('ix_article_tags_tag', table_name='article_tags')
    op.drop_table('article_tags')
    op.drop_index('ix_articles_updated_at', table_name='articles')
    op.drop_index('ix_articles_source_ticket_id', table_name='articles')
    op.drop_table('articles')
