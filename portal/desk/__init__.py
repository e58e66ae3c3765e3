"""The technicians' workspace: the queue, each ticket to completion, and the supervisor's view."""
