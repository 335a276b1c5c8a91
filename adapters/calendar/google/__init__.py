"""Google Calendar API v3 (and the Admin SDK's resources) behind the calendar ports.

``source`` reads changes (``CalendarSource``), ``write`` writes events (``CalendarWriter``),
``availability``, ``rooms`` and ``push`` are the live reads and notification channels; the
rest are their shared parts. Only ``adapters.calendar.factory`` imports these modules from
outside, and nothing here imports ``adapters.calendar.graph``.
"""
