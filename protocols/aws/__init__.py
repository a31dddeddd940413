"""Sans-I/O cores for the AWS IoT Core fleet provisioning endpoint (topics, payloads, templates, policies)."""
