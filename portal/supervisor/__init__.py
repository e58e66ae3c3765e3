"""The supervisor's overview: open tickets by queue, overdue tickets, each technician's load, and the trend."""
