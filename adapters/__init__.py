"""One module per outside thing: SQL store, broker, Google Calendar, Microsoft Graph, OAuth."""
