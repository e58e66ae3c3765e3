"""The knowledge-base article form of the workspace."""

from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length

from ..kb.services import BODY_MAX
from ..models.kb import SLUG_MAX, TITLE_MAX
from ..validators import Chosen, line_breaks_as_shown, row_id, single_line

TAGS_TEXT_MAX = 1000


def _owner_id(value) -> int | None:
    """The owner chosen (a row id), or None for anything else: the service says what is wrong with it."""
    return value if isinstance(value, int) else row_id(value)


class ArticleForm(FlaskForm):
    """Title, address, Markdown body, tags, who can read it and its owner."""

    title = StringField("Title", filters=[single_line], validators=[
        Length(max=TITLE_MAX, message=f"The title is longer than {TITLE_MAX} characters.")])
    slug = StringField("Address (slug)", filters=[single_line], validators=[
        Length(max=SLUG_MAX, message=f"The address is longer than {SLUG_MAX} characters.")],
        render_kw={"pattern": "[a-z0-9]+(-[a-z0-9]+)*", "spellcheck": "false"},
        description="Lower-case letters, digits and hyphens. Left empty, it is made from the title.")
    body = TextAreaField("Article (Markdown)", filters=[line_breaks_as_shown], render_kw={"rows": 18}, validators=[
        Length(max=BODY_MAX, message=f"The article is longer than {BODY_MAX:,} characters.")])
    tags = StringField("Tags", filters=[single_line], validators=[
        Length(max=TAGS_TEXT_MAX, message=f"The tags are longer than {TAGS_TEXT_MAX:,} characters in all.")],
        description="Separated by commas, e.g. outlook, email")
    visibility = RadioField("Who can read it", default="internal", validate_choice=False,
                            validators=[Chosen("Choose who can read it: public or internal.")], choices=[
        SelectChoice("public", "Public: anyone, and found by the home search"),
        SelectChoice("internal", "Internal: help desk staff only")])
    owner = SelectField("Owner", coerce=_owner_id, validate_choice=False)  # checked by the service
