"""Commerce: the `CommerceBackend` port, the built-in store backend, and shop-bundle import."""
