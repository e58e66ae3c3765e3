"""A bare Flask page for bench/walk_load.py to compare the step page with, under the same gunicorn.

    gunicorn -w 2 -k gthread --threads 4 bench.bare_app:app

``GET /`` renders a small page of about the step page's size and shape (a layout template the page
extends, a nav include, a step with Markdown-free text, a form, a few ``url_for`` links and escaped
values), with no database, session, sign-in, CSRF or security headers: what Flask itself costs
for a page like the step page.
"""

from __future__ import annotations

from flask import Flask, render_template
from jinja2 import DictLoader

BASE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{% block title %}IT Help{% endblock %} · IT Help</title>
  <link rel="stylesheet" href="{{ url_for('static', filename='css/portal.css') }}">
  <script src="{{ url_for('static', filename='vendor/htmx.min.js') }}" defer></script>
</head>
<body>
  <a class="skip-link" href="#main">Skip to content</a>
  <header class="site-header">
    <div class="wrap header-row">
      <a class="brand" href="{{ url_for('page') }}">IT Help</a>
      <nav class="site-nav" aria-label="Main">{% include "_nav.html" %}</nav>
    </div>
  </header>
  <main id="main" class="wrap" tabindex="-1">
    {% block content %}{% endblock %}
  </main>
  <footer class="site-footer wrap">
    <p>Can't find your problem? <a href="{{ url_for('page', q='contact') }}">Contact the help desk</a>.</p>
  </footer>
</body>
</html>
"""

NAV = """<a href="{{ url_for('page') }}">Find a fix</a>
  <a href="{{ url_for('page', q='contact') }}">Contact the help desk</a>
  <a href="{{ url_for('page', q='signin') }}">Sign in</a>
"""

PAGE = """{% extends "base.html" %}
{% block title %}{{ flow_title }}{% endblock %}
{% block content %}
<section id="flow-step" class="walk card fade-in" hx-target="this" hx-swap="outerHTML">
  <p class="flow-name">{{ flow_title }}</p>
  <p class="progress">Step {{ number }}</p>
  <h1 id="step-heading" class="step-heading" tabindex="-1">{{ title }}</h1>
  <div class="step-text">{% for line in lines %}<p>{{ line }}</p>
  {% endfor %}</div>
  <form method="post" action="{{ url_for('page', q=number) }}" hx-post="{{ url_for('page', q=number) }}">
    {% for option in options %}<button type="submit" name="answer" value="{{ option }}">{{ option }}</button>
    {% endfor %}
  </form>
  <div class="walk-controls">
    <a class="button secondary" href="{{ url_for('page', q=number - 1) }}">Back</a>
    <form method="post" action="{{ url_for('page', q='restart') }}"><button type="submit">Start over</button></form>
  </div>
  <div class="need-help">
    <p>Tried this and it still doesn't work?</p>
    <form method="post" action="{{ url_for('page', q='help') }}"><button type="submit">I still need help</button></form>
  </div>
</section>
{% endblock %}
"""

TEXT = [
    "Web mail shows what's really in your mailbox, without your computer's Outlook in the way.",
    "In a browser, open outlook.office.com and sign in with your work account.",
    "Look for the missing emails in the Inbox, on both the Focused and Other tabs if you have them.",
    "If they are there, the problem is on this computer: the next steps repair Outlook.",
]

app = Flask(__name__)
app.jinja_loader = DictLoader({"base.html": BASE, "_nav.html": NAV, "page.html": PAGE})


@app.get("/")
def page():
    """The comparison page."""
    return render_template("page.html", flow_title="Email isn't arriving or isn't sending", number=2,
                           title="Check web mail first", lines=TEXT, options=["Continue", "It's there", "It isn't"])
