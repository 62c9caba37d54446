"""A local S3-compatible server (moto's, on a free local port; never the internet) for the tests
of object stores: every client in this process is pointed at it while it runs."""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace


@contextmanager
def s3_server(buckets: tuple[str, ...]) -> Iterator[SimpleNamespace]:
    """Start the server, create `buckets`, set the AWS settings; undo it all on exit.
    Yields `fs` (an s3fs filesystem on the server) and `env` (the settings, for subprocesses)."""
    import s3fs
    from moto.server import ThreadedMotoServer

    s3fs.S3FileSystem.clear_instance_cache()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": f"http://{host}:{port}",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    for bucket in buckets:
        fs.mkdir(bucket)
    try:
        yield SimpleNamespace(fs=fs, env=env)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        # moto keeps its buckets in this process, not in the server: empty them for the next one
        # (a local http URL of our own server); and no cached client may keep this endpoint.
        reset = urllib.request.Request(f"{env['AWS_ENDPOINT_URL_S3']}/moto-api/reset", method="POST")  # noqa: S310
        urllib.request.urlopen(reset).close()  # noqa: S310
        server.stop()
        s3fs.S3FileSystem.clear_instance_cache()
