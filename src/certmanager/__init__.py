"""TLS certificates of the gateway: records in the storage the composition root passes in,
ACME HTTP-01 challenge answers, and ACME account keys. No ACME network calls happen here."""
