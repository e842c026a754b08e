"""Clients for outside APIs, shared by the services that call them."""
