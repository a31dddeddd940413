"""The reference client of the nrf emulator: the fake nRF91 device (the `nrf_provisioning` library core and the
emulated modem over real sockets), its on-disk identities, and the `provemu nrf ...` commands."""
