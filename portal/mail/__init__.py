"""Email: the outbox of notifications, delivering it over SMTP, and reading inbound mail."""
