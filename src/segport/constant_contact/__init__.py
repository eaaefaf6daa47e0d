"""The Constant Contact V3 client: OAuth2, rate budget, the response table, typed endpoints."""

from segport.constant_contact.batching import ImportBatch, JsonImportBatcher, json_import_batches
from segport.constant_contact.budget import RateBudget, RequestBudget, UnlimitedBudget
from segport.constant_contact.client import ConstantContactClient
from segport.constant_contact.models import AccountSummary, Activity, ContactList
from segport.constant_contact.oauth import (
    BearerAuth,
    OAuthClient,
    PkcePair,
    TokenKeeper,
    TokenSet,
    authorization_url,
    make_pkce,
    new_state,
)
from segport.constant_contact.retry import RetryPolicy

__all__ = [
    "AccountSummary",
    "Activity",
    "BearerAuth",
    "ConstantContactClient",
    "ContactList",
    "ImportBatch",
    "JsonImportBatcher",
    "OAuthClient",
    "PkcePair",
    "RateBudget",
    "RequestBudget",
    "RetryPolicy",
    "TokenKeeper",
    "TokenSet",
    "UnlimitedBudget",
    "authorization_url",
    "json_import_batches",
    "make_pkce",
    "new_state",
]
