"""The REST API as a tenant calls it: an APIClient holding a real (knox) token."""

from rest_framework.test import APIClient

from hooks.services import token_issue


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=user)[1]}")
    return client
