"""How much a user's upload or request may cost the server: size, unpacked and decoded
size, pixels, disk quota, time, memory.

The defaults suit a shared intranet server; each can be changed with an environment
variable (read when :meth:`UploadLimits.from_env` is called, so tests and the CLI can set
them before loading anything).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

MB = 1 << 20

# Field name -> (environment variable, factor from the variable's unit to the field's unit).
_ENV = {
    "max_upload_bytes": ("DEEPLING_MAX_UPLOAD_MB", MB),
    "max_uncompressed_bytes": ("DEEPLING_MAX_UNCOMPRESSED_MB", MB),
    "max_members": ("DEEPLING_MAX_ZIP_MEMBERS", 1),
    "max_ratio": ("DEEPLING_MAX_ZIP_RATIO", 1),
    "load_timeout_s": ("DEEPLING_LOAD_TIMEOUT_S", 1),
    "load_memory_bytes": ("DEEPLING_LOAD_MEMORY_MB", MB),
    "max_image_pixels": ("DEEPLING_MAX_IMAGE_PIXELS", 1),
    "max_image_side": ("DEEPLING_MAX_IMAGE_SIDE", 1),
    "max_decoded_bytes": ("DEEPLING_MAX_DECODED_MB", MB),
    "session_quota_bytes": ("DEEPLING_SESSION_QUOTA_MB", MB),
    "server_quota_bytes": ("DEEPLING_UPLOAD_QUOTA_MB", MB),
    "address_quota_bytes": ("DEEPLING_ADDRESS_QUOTA_MB", MB),
    "upload_ttl_s": ("DEEPLING_UPLOAD_TTL_H", 3600),
    "max_json_bytes": ("DEEPLING_MAX_JSON_KB", 1 << 10),
    "max_callback_bytes": ("DEEPLING_MAX_CALLBACK_MB", MB),
}


@dataclass(frozen=True)
class UploadLimits:
    """Bounds on an uploaded model or data file.

    Parameters
    ----------
    max_upload_bytes : int
        Size of the file as uploaded (``.keras``, ``.h5``, ``.zip``).
    max_uncompressed_bytes : int
        Total unpacked size of a zip's members, as declared and as actually read.
    max_members : int
        Number of entries in a zip.
    max_ratio : float
        Unpacked / packed size of a zip member (a zip bomb reaches 1000 and more; images
        barely compress).
    load_timeout_s : float
        Wall time for the isolated worker that first loads a model (TensorFlow's import
        alone takes several seconds).
    load_memory_bytes : int
        Address-space limit of that worker.
    max_image_pixels : int
        Pixels of one image file, read from its header before decoding (a 6000×6000 PNG
        of a few kB decodes to 108 MB); larger images are refused.
    max_image_side : int
        Longest side an image is kept at: larger photos are downscaled while decoding.
    max_decoded_bytes : int
        Decoded size of one dataset upload (images of a zip, arrays of an ``.npz``).
    session_quota_bytes, server_quota_bytes : int
        Disk that one session's uploads (the server-issued session, or the signed-in user)
        and all uploads may take, as stored.
    address_quota_bytes : int
        Disk that the uploads from one client address may take, whatever sessions it uses
        (a client that drops its cookie for each upload gets a new session, not more disk).
    upload_ttl_s : float
        Uploads are removed this long after they were made.
    max_json_bytes : int
        Body of a JSON request (``/api/projections``).
    max_callback_bytes : int
        Body of a Dash callback request (a picture uploaded in the strip view travels in one).
    """

    max_upload_bytes: int = 512 * MB
    max_uncompressed_bytes: int = 2048 * MB
    max_members: int = 100_000
    max_ratio: float = 100.0
    load_timeout_s: float = 180.0
    load_memory_bytes: int = 4096 * MB
    max_image_pixels: int = 40_000_000
    max_image_side: int = 512
    max_decoded_bytes: int = 1024 * MB
    session_quota_bytes: int = 4096 * MB
    server_quota_bytes: int = 20480 * MB
    address_quota_bytes: int = 8192 * MB
    upload_ttl_s: float = 7 * 24 * 3600.0
    max_json_bytes: int = 64 << 10
    max_callback_bytes: int = 8 * MB

    def __post_init__(self):
        for f in fields(self):
            if not getattr(self, f.name) > 0:
                raise ValueError(
                    f"UploadLimits.{f.name} must be positive, got {getattr(self, f.name)!r}.")

    @classmethod
    def from_env(cls, environ=None) -> "UploadLimits":
        """The defaults, overridden by ``DEEPLING_MAX_UPLOAD_MB`` and friends."""
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            var, unit = _ENV[f.name]
            raw = environ.get(var)
            if raw in (None, ""):
                continue
            try:
                number = float(raw)
            except ValueError:
                raise ValueError(f"{var}={raw!r} is not a number.") from None
            value = number * unit
            values[f.name] = int(value) if f.type in (int, "int") else float(value)
        return cls(**values)
