"""Administration: accounts, queues and canned responses (admins only)."""
