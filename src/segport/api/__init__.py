"""The REST API (FastAPI): the same service functions as the CLI, behind tokens and roles."""
