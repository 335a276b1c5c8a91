"""Infrastructure: settings, wiring, the command line and the local provider sandboxes."""
