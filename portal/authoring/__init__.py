"""The flows workspace for staff: every flow file with its lint state and figures, and one flow's page."""
