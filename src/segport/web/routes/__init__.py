"""One module of pages per screen."""
