"""The reference client of the ESP emulator: the fake provisioning app (``app``), its transports (``transport``
for SoftAP, ``ble`` over bumble), the RainMaker cloud stand-in it verifies mappings with (``cloud``) and the
``provemu esp ...`` commands (``commands``). Nothing here is imported by the emulator's server side."""
