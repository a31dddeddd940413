"""Sans-I/O cores of ESP32 protocomm provisioning (Security 0/1/2, Wi-Fi provisioning, RainMaker)."""
