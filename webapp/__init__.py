"""The HTTP API and the admin page for Diskominfo (``laporflow serve``)."""
