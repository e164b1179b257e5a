#!/usr/bin/env python3
"""Drive oras-py against a plain-HTTP registry.

usage:
  oras_client.py push HOST TARGET [--creds U:P] [--config PATH:MEDIATYPE]
                 [--chunk-size N] FILE[:MEDIATYPE]...
  oras_client.py pull HOST TARGET OUTDIR [--creds U:P]

Files are given relative to the working directory (oras-py insists on that).
push prints the manifest digest the registry returned.
"""
import argparse
import sys

import oras.client


def client(host: str, creds: str | None) -> oras.client.OrasClient:
    if not creds:
        return oras.client.OrasClient(hostname=host, insecure=True)
    # oras-py's token backend keeps the pull-only token it got first and does
    # not ask again for push; Basic credentials on every request avoid that.
    c = oras.client.OrasClient(hostname=host, insecure=True, auth_backend="basic")
    user, _, password = creds.partition(":")
    c.auth.set_basic_auth(user, password)
    return c


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("command", choices=["push", "pull"])
    p.add_argument("host")
    p.add_argument("target")
    p.add_argument("rest", nargs="*")
    p.add_argument("--creds")
    p.add_argument("--config")
    p.add_argument("--chunk-size", type=int)
    a = p.parse_intermixed_args()
    c = client(a.host, a.creds)
    if a.command == "push":
        kwargs = {}
        if a.config:
            kwargs["manifest_config"] = a.config
        if a.chunk_size:
            kwargs["do_chunked"] = True
            kwargs["chunk_size"] = a.chunk_size
        r = c.push(target=a.target, files=a.rest, quiet=True, **kwargs)
        print(r.headers.get("Docker-Content-Digest", ""))
    else:
        if len(a.rest) != 1:
            p.error("pull needs OUTDIR")
        for f in c.pull(target=a.target, outdir=a.rest[0]):
            print(f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
