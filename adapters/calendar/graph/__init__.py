"""Microsoft Graph v1.0 behind the calendar ports (msgraph-sdk on a private event loop).

``source`` reads changes (``CalendarSource``), ``write`` writes events (``CalendarWriter``),
``availability``, ``rooms`` and ``push`` are the live reads and push subscriptions; the rest
are their shared parts. Only ``adapters.calendar.factory`` imports these modules from outside,
and nothing here imports ``adapters.calendar.google``.
"""
