"""Sans-I/O cores of the nRF Cloud provisioning service and of the nRF91 device library (nrf_provisioning)."""
