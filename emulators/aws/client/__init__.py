"""The aws emulator's reference client: the fake device that provisions by claim, fleets of them, its MQTT
transport and the `provemu aws ...` commands. Nothing here is imported by the server side."""
