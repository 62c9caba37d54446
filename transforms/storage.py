"""Where the roots live: a local folder, or an object store (`s3://bucket/prefix`).

Each of the raw zone, the work location, the extract root and the quarantine may be a local
path or an object-store URI. A local root is a `pathlib.Path` and keeps every guarantee of a
POSIX filesystem (renames, `renameat2` exchange, flock). A URI is a `upath.UPath` over
fsspec (S3 and S3-compatible stores through s3fs; other fsspec protocols go through the same
layer but are not tested), with pathlib's interface, and the operations a store lacks are
done the store's way here:

| operation | local folder | object store |
|---|---|---|
| replace a file | `os.replace` (atomic) | one PUT (an object is replaced whole) |
| replace a folder (`swap`) | one atomic exchange (`ops/exchange.py`) | objects copied in, commit file last |
| lock | flock | an object created only if absent (`If-None-Match: *`) |
| remove a folder | `shutil.rmtree` | delete every object under the prefix |

The commit file of a folder is `_manifest.json` for a partition and `meta.json` for a history
state; after it, objects the new folder does not hold are deleted. On a store a swap is not
atomic, so readers trust only what the commit file lists: the manifest names every data file
with its sha256 (README, "Object stores"). Credentials and endpoints come from the store's
usual settings (for S3: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, and
`AWS_ENDPOINT_URL_S3` for an S3-compatible server), never from the project's files.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transforms.errors import StoreUnreachableError

#: Protocols treated as the local filesystem.
LOCAL_PROTOCOLS = ("", "file", "local")


def location(text: str | os.PathLike | None) -> Any:
    """A root or a path under it: `Path` for a local path, `UPath` for an object-store URI."""
    if text is None:
        return None
    if isinstance(text, Path) and not is_remote(text):
        return text
    raw = str(text)
    if "://" in raw and not raw.startswith("file://"):
        import fsspec
        from upath import UPath

        # Listings are read fresh every time: another worker may have published a night (or
        # taken a lock) since this process last looked, and the history checks must see it.
        fsspec.config.conf.setdefault(raw.split("://", 1)[0], {}).setdefault("use_listings_cache", False)
        return UPath(raw)
    return Path(raw.removeprefix("file://"))


def is_remote(path: Any) -> bool:
    """True for an object-store path (anything but the local filesystem)."""
    return getattr(path, "protocol", "") not in LOCAL_PROTOCOLS


def owner_only(path: Any) -> None:
    """Make a local folder (0700) or file (0600) readable by its owner only: the work folder
    and the quarantine hold raw-derived rows. An object store's access is its policy's, not
    a mode's: nothing to do there."""
    if is_remote(path) or not Path(path).exists():
        return
    os.chmod(path, 0o700 if Path(path).is_dir() else 0o600)


def inside(child: Any, parent: Any) -> bool:
    """Is `child` the folder `parent` or under it (local paths resolved, URIs by their text)?"""
    if is_remote(child) or is_remote(parent):
        c, p = str(child).rstrip("/"), str(parent).rstrip("/")
        return c == p or c.startswith(p + "/")
    c, p = Path(child).resolve(), Path(parent).resolve()
    return c == p or p in c.parents


def filesystem(path: Any):
    """The fsspec filesystem of a remote path (None for a local one)."""
    return path.fs if is_remote(path) else None


def key(path: Any) -> str:
    """The store's own name for a remote path (`bucket/prefix/file`)."""
    return path.path


def rmtree(path: Any) -> None:
    """Remove a folder and everything under it; nothing if it is absent."""
    if not is_remote(path):
        shutil.rmtree(path, ignore_errors=True)
        return
    fs = path.fs
    if fs.exists(key(path)):
        fs.rm(key(path), recursive=True)
    fs.invalidate_cache(key(path))


def replace(src: Any, dst: Any) -> None:
    """Move the file `src` to `dst`, replacing it (atomic locally; one copy then delete on a store,
    where readers see the old object or the new one, as a PUT replaces an object whole)."""
    if not is_remote(dst):
        os.replace(src, dst)
        return
    dst.fs.mv(key(src), key(dst))


def copyfile(src: Any, dst: Any) -> None:
    if not is_remote(src) and not is_remote(dst):
        shutil.copyfile(src, dst)
        return
    with src.open("rb") as i, dst.open("wb") as o:
        shutil.copyfileobj(i, o, 1 << 22)


def relative(path: Any, folder: Any) -> str:
    """`path`'s name under `folder` (POSIX), local or remote."""
    return str(path)[len(str(folder)) + 1 :]


def files_under(folder: Any) -> list[Any]:
    """Every file under `folder`, sorted (a store has no folders, only names)."""
    if not is_remote(folder):
        return sorted(p for p in folder.rglob("*") if p.is_file())
    fs = folder.fs
    fs.invalidate_cache(key(folder))
    if not fs.exists(key(folder)):
        return []
    return sorted(folder / name[len(key(folder)) + 1 :] for name in fs.find(key(folder)))


def copytree(src: Any, dst: Any, last: str | None = None) -> None:
    """Copy a folder (either side local or remote); on a store the files named `last` (the
    folder's commit file) are copied last."""
    if not is_remote(src) and not is_remote(dst):
        shutil.copytree(src, dst)
        return
    if not is_remote(src):  # an upload: batched by the store's client, then the commit file
        files = files_under(src)
        rest = [f for f in files if f.name != last]
        dst.fs.put([str(f) for f in rest], [f"{key(dst)}/{relative(f, src)}" for f in rest])
        for f in files:
            if f.name == last:
                dst.fs.put_file(str(f), f"{key(dst)}/{relative(f, src)}")
        return
    for f in sorted(files_under(src), key=lambda f: f.name == last):
        target = dst / relative(f, src)
        if not is_remote(dst):
            target.parent.mkdir(parents=True, exist_ok=True)
        copyfile(f, target)


def swap(staging: Any, target: Any, commit: str, before_commit: Callable[[], None] | None = None) -> None:
    """Replace the folder `target` by `staging` on an object store: every object copied in,
    `commit` (the file readers trust) last, then objects `staging` does not hold deleted, then
    `staging` removed. A crash part-way leaves the previous commit file naming the previous
    files' digests, and the next swap finishes the job."""
    fs = target.fs
    incoming = sorted(files_under(staging), key=lambda f: f.name == commit)
    names = {relative(f, staging) for f in incoming}
    for f in incoming:
        if before_commit is not None and f.name == commit:
            before_commit()
        fs.copy(key(f), f"{key(target)}/{relative(f, staging)}")
    for f in files_under(target):
        if relative(f, target) not in names:
            fs.rm(key(f))
    rmtree(staging)
    fs.invalidate_cache(key(target))


def create_exclusive(path: Any, data: bytes) -> bool:
    """Create the object `path` holding `data` only if it does not exist; False if it does.
    The store decides (S3: a conditional PUT, `If-None-Match: *`), so two workers cannot both win."""
    try:
        path.fs.pipe_file(key(path), data, mode="create")
    except FileExistsError:
        return False
    return True


def remove(path: Any) -> None:
    """Remove a file if it exists."""
    if not is_remote(path):
        Path(path).unlink(missing_ok=True)
        return
    try:
        path.fs.rm(key(path))
    except FileNotFoundError:
        pass


def parquet_source(path: Any):
    """Something pyarrow reads as Parquet: the path itself, or an open remote file."""
    if not is_remote(path):
        return path
    return io.BytesIO(path.read_bytes())


def write_table(table, path: Any, **options) -> None:
    """`pyarrow.parquet.write_table` to a local or remote path."""
    import pyarrow.parquet as pq

    if not is_remote(path):
        pq.write_table(table, path, **options)
        return
    buffer = io.BytesIO()
    pq.write_table(table, buffer, **options)
    path.write_bytes(buffer.getvalue())


def read_table(path: Any, **options):
    """`pyarrow.parquet.read_table` from a local or remote path (or a list of them)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if isinstance(path, list):
        return pa.concat_tables([read_table(p, **options) for p in path]) if path else None
    return pq.read_table(parquet_source(path), **options)


def client_errors() -> tuple[type[BaseException], ...]:
    """The errors a store's client raises when the store cannot be reached or refuses a request
    (botocore's, for S3), beyond the OSErrors fsspec maps them to."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        return ()
    return (BotoCoreError, ClientError)


def unreachable(exc: BaseException) -> StoreUnreachableError:
    """A clear, retryable error for a store that did not answer (no data in it: the client's
    message names the request, never a file's content)."""
    first = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
    return StoreUnreachableError(
        f"the object store did not answer or refused the request ({type(exc).__name__}: {first}); check the "
        "endpoint (AWS_ENDPOINT_URL_S3), the credentials (AWS_ACCESS_KEY_ID, an instance role), the bucket "
        "name and the network; the task is retried"
    )
