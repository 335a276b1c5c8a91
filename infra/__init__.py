"""Infrastructure: settings, wiring, the command line and the local provider sandboxes."""

import warnings

# google-api-core warns, at import and from a date on, that this Python will lose its support.
# An operator cannot act on it per command, and it broke every command's one-line error
# (seen 400 days ahead); the Python version to run is the README's business.
warnings.filterwarnings(
    "ignore", category=FutureWarning, module=r"google\.api_core\._python_version_support"
)
