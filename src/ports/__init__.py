"""Port allocation for the gateway's services, on the storage the composition root passes in."""
