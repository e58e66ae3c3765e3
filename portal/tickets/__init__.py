"""Tickets: opening them (from a walk or the contact form), and the requester's view of them."""
