"""PKI for the emulators: CAs, leaf issuance, CSR signing and the dev PKI on disk."""
