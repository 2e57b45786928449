"""TLS in front of a plain TCP server (an https endpoint for the S3 store), and the certificates it needs.

    ca = TestCA(tmp_path / "ca")                        # a CA made with openssl: ca.cert (PEM path)
    cert, key = ca.issue("server", ["IP:127.0.0.1", "DNS:localhost"])   # a server certificate it signs
    relay = TLSRelay(("127.0.0.1", port), cert, key)    # listens on 127.0.0.1:<relay.port>, TLS
    relay.url                                           # https://127.0.0.1:<port>
    relay.handshakes                                    # TLS handshakes the relay completed
    relay.bytes_to_server                               # bytes clients sent through it (0: no request got through;
                                                        # a client may check the server's name after the handshake)
    relay.close()

One asyncio loop on one thread does every connection: the TLS state of a connection is then only ever touched by
that thread (an ssl.SSLSocket read and written by two threads at once is not safe).
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import threading
from pathlib import Path
from typing import List, Tuple


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


class TestCA:
    """A certificate authority of its own, in `directory`: no system knows it."""

    __test__ = False  # a helper, not a pytest test class

    def __init__(self, directory: Path):
        directory.mkdir(parents=True, exist_ok=True)
        self.dir = directory
        self.cert = directory / "ca.pem"
        self.key = directory / "ca.key"
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=uploadgate test CA",
                 "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                 "-keyout", str(self.key), "-out", str(self.cert))

    def issue(self, name: str, alt_names: List[str]) -> Tuple[Path, Path]:
        """A server certificate for `alt_names` (e.g. "IP:127.0.0.1", "DNS:localhost") -> (cert, key) paths."""
        cert, key, csr, ext = (self.dir / f"{name}{s}" for s in (".pem", ".key", ".csr", ".ext"))
        ext.write_text(f"subjectAltName={','.join(alt_names)}\nextendedKeyUsage=serverAuth\n"
                       "basicConstraints=critical,CA:FALSE\n")
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(csr))
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(self.cert), "-CAkey", str(self.key), "-CAcreateserial",
                 "-days", "2", "-extfile", str(ext), "-out", str(cert))
        return cert, key


class TLSRelay:
    def __init__(self, target: Tuple[str, int], cert: Path, key: Path):
        self.target = target
        self.handshakes = 0
        self.bytes_to_server = 0
        self._writers: List[asyncio.StreamWriter] = []
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert), str(key))
        self._loop = asyncio.new_event_loop()
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=ctx, ssl_handshake_timeout=10))
        self.port = self._server.sockets[0].getsockname()[1]
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        # called once the TLS handshake succeeded
        self.handshakes += 1
        self._writers.append(client_w)
        try:
            server_r, server_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.close()
            return
        self._writers.append(server_w)
        await asyncio.gather(self._pump(client_r, server_w, True), self._pump(server_r, client_w, False),
                             return_exceptions=True)

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, to_server: bool) -> None:
        """Copies one direction until EOF or an error, then closes the destination."""
        try:
            while True:
                data = await src.read(65536)
                if not data:
                    break
                if to_server:
                    self.bytes_to_server += len(data)
                dst.write(data)
                await dst.drain()
        except (OSError, ssl.SSLError):
            pass
        finally:
            dst.close()

    def close(self) -> None:
        async def stop():
            # no wait_closed(): it would wait for the connections a keep-alive client still holds
            self._server.close()
            for w in self._writers:
                w.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
