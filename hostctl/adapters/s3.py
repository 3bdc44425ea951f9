"""S3-compatible object storage (AWS S3, Cloudflare R2, Backblaze B2, MinIO) through boto3:
the only module that talks to an object store.

Uploads go through boto3's managed transfer: multipart above PART_SIZE, an aborted
multipart upload on failure, retried requests, and botocore's per-request checksums that
the store verifies. Every failure becomes a HostctlError saying which of credentials,
bucket or network is wrong.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from hostctl.core.errors import HostctlError

if TYPE_CHECKING:
    import botocore.exceptions
    from mypy_boto3_s3 import S3Client

PART_SIZE = 16 * 1024 * 1024
ATTEMPTS = 4  # per request, with botocore's backoff
CREDENTIALS = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AccessDenied",
    "InvalidToken",
    "InvalidClientTokenId",
    "Unauthorized",
    "Forbidden",
    "401",
    "403",
}
# botocore errors that mean the store was not reached, by name: botocore loads only when used
NETWORK = (
    "EndpointConnectionError",
    "ConnectionClosedError",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ResponseStreamingError",
    "HTTPClientError",
)
T = TypeVar("T")


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int


class ObjectStore:
    """One bucket of an S3-compatible store."""

    def __init__(
        self, endpoint: str, bucket: str, access_key_id: str, secret_access_key: str, region: str
    ) -> None:
        self.endpoint = endpoint
        self.bucket = bucket
        self.access_key_id = access_key_id
        self.secret_access_key = secret_access_key
        self.region = region

    @cached_property
    def client(self) -> S3Client:
        # Imported here: boto3 costs ~25 MiB and 0.15 s, which the agent and most
        # commands never need.
        import boto3
        import botocore.config

        config = botocore.config.Config(
            s3={"addressing_style": "path"},  # MinIO needs it; R2, B2 and S3 accept it
            retries={"max_attempts": ATTEMPTS, "mode": "standard"},
            connect_timeout=10,
            read_timeout=60,
        )
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            region_name=self.region,
            config=config,
        )

    def call(self, action: Callable[[], T], what: str) -> T:
        import boto3.exceptions
        import botocore.exceptions

        network = tuple(getattr(botocore.exceptions, name) for name in NETWORK)
        try:
            return action()
        except boto3.exceptions.S3UploadFailedError as exc:
            cause = exc.__context__
            if isinstance(cause, botocore.exceptions.ClientError):
                raise self.refused(cause, what) from exc
            raise HostctlError(f"could not {what}: {exc}", "run it again") from exc
        except botocore.exceptions.ClientError as exc:
            raise self.refused(exc, what) from exc
        except network as exc:
            raise HostctlError(
                f"cannot reach the offsite store at {self.endpoint} to {what}: {exc}",
                "check the endpoint and the network; local backups are kept, and uploads "
                "are retried with the next backup",
            ) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise HostctlError(
                f"could not {what} in the offsite store: {exc}", "see `hostctl offsite test`"
            ) from exc

    def refused(self, exc: botocore.exceptions.ClientError, what: str) -> HostctlError:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "unknown"))
        if code in CREDENTIALS:
            return HostctlError(
                f"the offsite store at {self.endpoint} refused the credentials ({code}) "
                f"when asked to {what}",
                "check the access key id and secret, and that the key may list, read, write "
                "and delete in the bucket; then run `hostctl offsite set` again",
            )
        if code in ("NoSuchBucket", "404") and what == "find the bucket":
            return HostctlError(
                f"the bucket {self.bucket} does not exist at {self.endpoint}",
                "create it with your provider, or fix --bucket in `hostctl offsite set`",
            )
        return HostctlError(
            f"the offsite store could not {what}: {code} {error.get('Message', '')}".strip(),
            "see `hostctl offsite test`",
        )

    def check(self) -> None:
        """Prove the bucket exists and the key may list, write, read and delete in it."""
        self.call(  # a GET, whose error body names the problem (a HEAD's has no body)
            partial(self.client.list_objects_v2, Bucket=self.bucket, MaxKeys=1),
            "find the bucket",
        )
        key = f".hostctl-check-{secrets.token_hex(6)}"
        body = secrets.token_bytes(64)
        self.put_bytes(key, body)
        try:
            if self.get_bytes(key) != body:
                raise HostctlError(
                    "the offsite store returned different bytes than were written",
                    "check the endpoint really is an S3-compatible object store",
                )
        finally:
            self.delete([key])

    def put_file(self, key: str, path: Path, metadata: dict[str, str]) -> None:
        from boto3.s3.transfer import TransferConfig

        size = path.stat().st_size
        transfer = TransferConfig(multipart_threshold=PART_SIZE, multipart_chunksize=PART_SIZE)
        self.call(
            lambda: self.client.upload_file(
                str(path), self.bucket, key, ExtraArgs={"Metadata": metadata}, Config=transfer
            ),
            f"upload {key}",
        )
        stored = self.call(lambda: self.client.head_object(Bucket=self.bucket, Key=key), "check")
        if stored["ContentLength"] != size or stored.get("Metadata", {}) != metadata:
            raise HostctlError(
                f"the offsite copy of {key} does not match what was uploaded",
                "it is uploaded again with the next backup",
            )

    def put_bytes(self, key: str, body: bytes) -> None:
        self.call(
            lambda: self.client.put_object(Bucket=self.bucket, Key=key, Body=body),
            f"upload {key}",
        )

    def get_bytes(self, key: str) -> bytes:
        response = self.call(
            lambda: self.client.get_object(Bucket=self.bucket, Key=key), f"download {key}"
        )
        return self.call(response["Body"].read, f"download {key}")

    def get_file(self, key: str, path: Path) -> None:
        self.call(lambda: self.client.download_file(self.bucket, key, str(path)), f"download {key}")

    def objects(self, prefix: str) -> list[StoredObject]:
        def listing() -> list[StoredObject]:
            paginator = self.client.get_paginator("list_objects_v2")
            return [
                StoredObject(item["Key"], item["Size"])
                for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix)
                for item in page.get("Contents", [])
            ]

        return self.call(listing, f"list {prefix}")

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            self.call(
                partial(self.client.delete_object, Bucket=self.bucket, Key=key), f"delete {key}"
            )

    def abort_uploads(self, prefix: str) -> int:
        """Abort multipart uploads an interrupted upload left under ``prefix``."""
        found = self.call(
            partial(self.client.list_multipart_uploads, Bucket=self.bucket, Prefix=prefix),
            "list unfinished uploads",
        )
        uploads = found.get("Uploads", [])
        for upload in uploads:
            self.call(
                partial(
                    self.client.abort_multipart_upload,
                    Bucket=self.bucket,
                    Key=upload["Key"],
                    UploadId=upload["UploadId"],
                ),
                "abort an unfinished upload",
            )
        return len(uploads)
