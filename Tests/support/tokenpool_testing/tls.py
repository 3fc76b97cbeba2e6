"""Certificates for TLS tests: a private CA and a server certificate it signed, made with openssl."""
import pathlib
import subprocess
from typing import Tuple


def make_certificates(work: pathlib.Path, name: str) -> Tuple[pathlib.Path, pathlib.Path, pathlib.Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it (openssl)."""
    ca_key, ca, key, csr, cert = (work / f"{name}-{part}" for part in ("ca.key", "ca.pem", "key.pem", "csr.pem", "cert.pem"))
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(ca_key), "-out", str(ca),
        "-days", "2", "-subj", f"/CN=TokenPool test CA {name}")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out", str(csr),
        "-subj", f"/CN={name}")
    extensions = work / f"{name}.ext"
    extensions.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial", "-out", str(cert), "-days", "2",
        "-extfile", str(extensions))
    return ca, cert, key
