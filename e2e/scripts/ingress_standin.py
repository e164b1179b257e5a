"""Stands in for an Ingress controller, which the test cluster lacks.

Terminates TLS on LISTEN_HOST:LISTEN_PORT with the certificate and key an
Ingress names in its `tls` entry, and forwards the plain bytes to the
backend Service's ClusterIP:port, as an Ingress controller does for a rule.
The operator e2e reads those from the Ingress the operator reconciled.

Usage: ingress_standin.py LISTEN_HOST LISTEN_PORT CERT KEY UPSTREAM_HOST UPSTREAM_PORT
"""

import asyncio
import ssl
import sys


async def pipe(reader, writer):
    try:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            writer.close()
        except (ConnectionError, OSError):
            pass


def handler(upstream_host, upstream_port):
    async def handle(reader, writer):
        try:
            up_reader, up_writer = await asyncio.open_connection(upstream_host, upstream_port)
        except OSError as err:
            print(f"upstream {upstream_host}:{upstream_port}: {err}", file=sys.stderr, flush=True)
            writer.close()
            return
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    return handle


async def main():
    listen_host, listen_port, cert, key, upstream_host, upstream_port = sys.argv[1:7]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = await asyncio.start_server(
        handler(upstream_host, int(upstream_port)), listen_host, int(listen_port), ssl=context
    )
    print(f"listening on {listen_host}:{listen_port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
