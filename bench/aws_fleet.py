"""Fleet provisioning throughput of `provemu serve aws`.

N simulated devices (default 200, 50 at a time) each do: claim connect → CreateKeysAndCertificate →
RegisterThing → reconnect with the new certificate. The emulator runs in its own process with a warm key pool;
the devices run here. Prints devices/s and p50/p99 latency per device, for the concurrent run and for one
device at a time (with 50 in flight, latency is mostly queueing: 50 / throughput, by Little's law).
Usage: python bench/aws_fleet.py [N] [C]
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._servers import get_json, port_of, provemu_serve, wait_until
from emulators.aws.client.cli import DEVICE_TIMEOUT
from emulators.aws.client.device import Endpoint
from emulators.aws.client.fleet import run_fleet


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    with tempfile.TemporaryDirectory() as tmp, \
            provemu_serve("aws", Path(tmp), "--mqtt-port", "0", "--key-pool-size", str(count + 50)) as ready:
        control = ready["control"]
        keys = count + min(count, 50)
        wait_until(lambda: get_json(f"{control}/api/aws/keypool")["available"] >= keys, 300, "a warm key pool")
        pki = Path(tmp) / "pki"
        endpoint = Endpoint("localhost", port_of(ready["mqtt"]), pki / "ca.pem")
        print(f"aws fleet provisioning: {count} devices, {concurrency} concurrent, {os.cpu_count()} cores")
        sequential = min(count, 50)
        for label, use_csr in (("CreateKeysAndCertificate", False), ("CreateCertificateFromCsr", True)):
            for width, devices in ((concurrency, count), (1, sequential)):
                result = asyncio.run(run_fleet(endpoint, pki / "claim.pem", pki / "claim.key", devices, width,
                                               prefix=f"bench-{int(use_csr)}-{width}", use_csr=use_csr,
                                               timeout=DEVICE_TIMEOUT))
                print(f"  {label:26s} {width:3d} at a time: {result.summary()}")
                for cause in result.causes():
                    print(f"    failed: {cause}")


if __name__ == "__main__":
    main()
