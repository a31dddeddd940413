"""Sans-I/O protocol cores: codecs, session engines and state machines. No sockets, no clock."""
