"""Evidence images (the PNGs the model scored, contract 5) from S3: their URIs, fetch and download."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence
from urllib.parse import unquote

from botocore.exceptions import BotoCoreError, ClientError

from chartguard.stack_access import UserError, aws_error


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` -> (bucket, key). The key is taken as it is (the recorder quotes its parts)."""
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise ValueError(f"not an s3://bucket/key URI: {uri!r}")
    bucket, key = uri[5:].split("/", 1)
    if not bucket or not key:
        raise ValueError(f"not an s3://bucket/key URI: {uri!r}")
    return bucket, key


def evidence_symbol(uri: str) -> str:
    """The symbol an evidence image is of: its file name, unquoted, without `.png`."""
    name = uri.rsplit("/", 1)[-1]
    return unquote(name[:-4] if name.endswith(".png") else name)


def evidence_by_symbol(record: Mapping[str, Any]) -> dict[str, str]:
    return {evidence_symbol(uri): uri for uri in record.get("evidence") or []}


def fetch_object(s3: Any, uri: str) -> bytes:
    bucket, key = parse_s3_uri(uri)
    try:
        return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except (ClientError, BotoCoreError) as error:
        raise aws_error(f"get {uri}", error) from error


def _safe_part(part: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_.%+=@" else "_" for c in part)
    return cleaned if cleaned.strip(".") else "_"


def download_path(directory: Path, uri: str) -> Path:
    """Where an evidence object goes under `directory`: its key's parts, none able to climb out."""
    _, key = parse_s3_uri(uri)
    parts = key.split("/")
    if parts[0] == "evidence" and len(parts) > 1:
        parts = parts[1:]
    return directory.joinpath(*(_safe_part(p) for p in parts))


def download_evidence(s3: Any, records: Sequence[Mapping[str, Any]], directory: Path) -> list[Path]:
    written = []
    for record in records:
        for uri in record.get("evidence") or []:
            path = download_path(directory, uri)
            body = fetch_object(s3, uri)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(body)
            except OSError as error:
                raise UserError(f"cannot write {path}: {error.strerror or error}") from error
            written.append(path)
    return written
