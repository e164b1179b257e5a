#!/usr/bin/env python3
"""Build a minimal OCI image layout (one gzip tar layer) without any network.

usage: mkoci.py OUTDIR [TAG] [CONTENT] [RANDOM_BYTES]

The layer holds `hello.txt` with CONTENT (default: a fixed greeting), so callers
can make images with distinct blobs, and with RANDOM_BYTES also `random.bin` of
that many random (incompressible) bytes, for images of a known size. Prints `manifest sha256:<hex>`,
`config sha256:<hex>`, `layer sha256:<hex>` and `diff_id sha256:<hex>`.
"""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

out = sys.argv[1]
tag = sys.argv[2] if len(sys.argv) > 2 else "latest"
content = (sys.argv[3] if len(sys.argv) > 3 else "hello from a hand-made OCI image\n").encode()
padding = int(sys.argv[4]) if len(sys.argv) > 4 else 0
blobs = os.path.join(out, "blobs", "sha256")
os.makedirs(blobs, exist_ok=True)


def put(data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, digest), "wb") as f:
        f.write(data)
    return digest


raw = io.BytesIO()
with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
    ti = tarfile.TarInfo("hello.txt")
    ti.size = len(content)
    ti.mtime = 0
    ti.mode = 0o644
    tf.addfile(ti, io.BytesIO(content))
    if padding:
        ti = tarfile.TarInfo("random.bin")
        ti.size = padding
        ti.mtime = 0
        ti.mode = 0o644
        tf.addfile(ti, io.BytesIO(os.urandom(padding)))
raw_bytes = raw.getvalue()
diff_id = hashlib.sha256(raw_bytes).hexdigest()
gz = gzip.compress(raw_bytes, compresslevel=1, mtime=0)
layer_digest = put(gz)
config = {
    "created": "2024-01-01T00:00:00Z",
    "architecture": "amd64",
    "os": "linux",
    "config": {"Cmd": ["/hello"], "Env": ["PATH=/"]},
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff_id]},
    "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "mkoci.py"}],
}
cfg = json.dumps(config, separators=(",", ":")).encode()
cfg_digest = put(cfg)
manifest = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + cfg_digest, "size": len(cfg)},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + layer_digest, "size": len(gz)}],
}
man = json.dumps(manifest, separators=(",", ":")).encode()
man_digest = put(man)
index = {
    "schemaVersion": 2,
    "manifests": [
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": "sha256:" + man_digest,
            "size": len(man),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }
    ],
}
with open(os.path.join(out, "index.json"), "w") as f:
    json.dump(index, f)
with open(os.path.join(out, "oci-layout"), "w") as f:
    json.dump({"imageLayoutVersion": "1.0.0"}, f)
print("manifest sha256:" + man_digest)
print("config sha256:" + cfg_digest)
print("layer sha256:" + layer_digest)
print("diff_id sha256:" + diff_id)
