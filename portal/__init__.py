"""The self-service IT support portal: ``create_app()`` builds the Flask application."""

from __future__ import annotations

import os

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from . import config as config_module
from . import urls
from .extensions import csrf, db, htmx, limiter, login_manager


def create_app(config: dict | object | None = None) -> Flask:
    """Create the portal: settings, extensions, flow registry, blueprints and CLI."""
    from . import database

    app = Flask(__name__, instance_relative_config=True)
    database.private_dir(app.instance_path)  # the secret key and the embedded database live there
    app.config.update(config_module.DEFAULTS)
    if config is None:
        app.config.update(config_module.from_environment(app.instance_path))
        urls.check_config(app, production=bool(os.environ.get("DATABASE_URL")))
    elif isinstance(config, dict):
        app.config.update(config)
    else:
        app.config.from_object(config)

    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies:
        # Behind that many proxies, the client's address and scheme are the ones they forward (the
        # last `proxies` entries of X-Forwarded-For); without, those headers are ignored: anyone can send them.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)
    db.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    htmx.init_app(app)
    limiter.init_app(app)

    from . import models, search  # noqa: F401  (registers the tables and the search index)

    database.init_app(app)  # `flask db` (Flask-Migrate, loaded when used) and the embedded database's upgrade

    from .flows_runtime import init_app as init_flows

    init_flows(app)

    from . import web

    web.init_app(app)

    from . import auth_wiring

    auth_wiring.init_app(app)

    from .admin.routes import bp as admin_bp
    from .auth.profile_routes import bp as profile_bp
    from .auth.recovery_routes import bp as recovery_bp
    from .auth.routes import bp as auth_bp
    from .authoring.routes import bp as authoring_bp
    from .desk.articles import bp as kb_bp
    from .desk.routes import bp as desk_bp
    from .selfservice.articles import bp as articles_bp
    from .selfservice.routes import bp as selfservice_bp
    from .supervisor.routes import bp as supervisor_bp
    from .tickets.known_issue_routes import bp as issues_bp
    from .tickets.routes import bp as tickets_bp

    app.register_blueprint(selfservice_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(recovery_bp)
    app.register_blueprint(profile_bp)
    app.register_blueprint(tickets_bp)
    app.register_blueprint(issues_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(supervisor_bp)
    app.register_blueprint(desk_bp)
    app.register_blueprint(authoring_bp)
    app.register_blueprint(kb_bp)  # the knowledge base: /desk/kb for staff, /kb/<slug> for everyone
    app.register_blueprint(articles_bp)

    from .auth.cli import users_cli
    from .authoring import terminal  # noqa: F401  (adds `flask flows walk`)
    from .cli import flows_cli

    app.cli.add_command(flows_cli)

    from . import kb

    kb.init_app(app)  # `flask kb export|import`, and article links in flow steps
    app.cli.add_command(users_cli)

    from .mail import worker as outbox_worker
    from .mail.cli import outbox_cli
    from .tickets.cli import attachments_cli, mail_cli

    app.cli.add_command(outbox_cli)
    app.cli.add_command(mail_cli)
    app.cli.add_command(attachments_cli)
    outbox_worker.init_app(app)  # the background sender, only when OUTBOX_THREAD is set

    from .auth import sso

    sso.init_app(app)  # single sign-on pages, and the provider when OIDC_ISSUER is set
    return app
