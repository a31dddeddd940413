"""The nRF Cloud provisioning service emulator (HTTPS, CoAP, CoAP/DTLS, management API) and the fake nRF91."""
