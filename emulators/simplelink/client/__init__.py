"""The SimpleLink reference clients, apart from the emulated device: the AP-mode app (``ap``), the SmartConfig
transmitter (``transmitter``) and the ``provemu simplelink ...`` commands that run them (``commands``)."""
