"""Accounts: sign up, sign in, sign out, and `flask users create`."""
