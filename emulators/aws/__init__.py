"""The AWS IoT Core fleet-provisioning endpoint emulator and its reference device."""
