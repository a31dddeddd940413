"""Sans-I/O MQTT 3.1.1 / 5 packet codec, properties and topic matching used by the AWS IoT gateway."""
