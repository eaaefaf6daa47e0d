"""The store: tables, engine and migrations, and secrets encrypted at rest."""

from segport.store.database import Store, open_store
from segport.store.secrets import SecretBox

__all__ = ["SecretBox", "Store", "open_store"]
