"""The ESP32 provisioning emulator (protocomm over SoftAP HTTP and BLE) and its fake provisioning app."""
