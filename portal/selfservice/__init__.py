"""End users' self-service: finding a flow and walking it."""
