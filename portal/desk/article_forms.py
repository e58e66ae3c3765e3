"""The knowledge-base article form of the workspace."""

from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length

from ..kb.services import BODY_MAX
from ..models.kb import SLUG_MAX, TITLE_MAX
from ..validators import single_line


class ArticleForm(FlaskForm):
    """Title, address, Markdown body, tags, who can read it and its owner."""

    title = StringField("Title", filters=[single_line], validators=[Length(max=TITLE_MAX)])
    slug = StringField("Address (slug)", filters=[single_line], validators=[Length(max=SLUG_MAX)],
                       description="Lower-case letters, digits and hyphens. Left empty, it is made from the title.")
    body = TextAreaField("Article (Markdown)", validators=[Length(max=BODY_MAX)])
    tags = StringField("Tags", filters=[single_line], validators=[Length(max=1000)],
                       description="Separated by commas, e.g. outlook, email")
    visibility = RadioField("Who can read it", default="internal", choices=[
        SelectChoice("public", "Public: anyone, and found by the home search"),
        SelectChoice("internal", "Internal: help desk staff only")])
    owner = SelectField("Owner", coerce=int, validate_choice=False)  # checked by the service
