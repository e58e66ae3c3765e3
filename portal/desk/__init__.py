"""The technicians' workspace: the queue and each ticket to completion (the overview is portal.supervisor)."""
