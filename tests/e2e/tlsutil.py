"""
tlsutil.py - TLS scaffolding for the end-to-end tests: a throw-away CA and
server certificates made with the openssl command line in the test's own
directory (key files mode 0600, owned by root, as in production), and a
daemon configuration that serves them on a plain (STLS) and an implicit
TLS listener.
"""
import os
import socket
import ssl
import subprocess

import harness as h


def openssl(*args, cwd=None):
    return subprocess.run(["openssl"] + list(args), check=True, cwd=cwd,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)


class TestCA:
    """A private root CA in dir; issue() makes server certificates."""

    def __init__(self, dirname, name="postern test CA"):
        self.dir = os.path.join(dirname, "pki")
        os.makedirs(self.dir, exist_ok=True)
        self.key = os.path.join(self.dir, "ca.key")
        self.cert = os.path.join(self.dir, "ca.pem")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-nodes", "-keyout", self.key,
                "-out", self.cert, "-days", "30", "-subj", "/CN=" + name,
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        os.chmod(self.key, 0o600)
        self.serial = 0x1000

    def issue(self, name, days=20, san="DNS:localhost,DNS:pop.postern.test,IP:127.0.0.1",
              keytype="ec"):
        """(chain path, key path, serial) for a new server certificate;
        the chain file is the certificate followed by the CA (full chain)."""
        self.serial += 1
        key = os.path.join(self.dir, name + ".key")
        csr = os.path.join(self.dir, name + ".csr")
        crt = os.path.join(self.dir, name + ".crt")
        chain = os.path.join(self.dir, name + ".pem")
        ext = os.path.join(self.dir, name + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\n"
                    "extendedKeyUsage=serverAuth\n" % san)
        if keytype == "rsa":
            newkey = ["-newkey", "rsa:2048"]
        else:
            newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        openssl("req", *newkey, "-nodes", "-keyout", key, "-out", csr,
                "-subj", "/CN=" + name)
        os.chmod(key, 0o600)
        os.chown(key, 0, 0)
        openssl("x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey",
                self.key, "-set_serial", str(self.serial), "-out", crt,
                "-days", str(days), "-extfile", ext)
        with open(chain, "w") as out:
            out.write(open(crt).read())
            out.write(open(self.cert).read())
        return chain, key, self.serial

    def client_context(self):
        ctx = ssl.create_default_context(cafile=self.cert)
        return ctx


def tls_daemon(users, extra=None, host="127.0.0.1", san=None):
    """A harness.Daemon with a CA, a certificate, a plain listener (STLS)
    and an implicit TLS listener; d.ca, d.tls_port, d.cert_serial."""
    d = h.Daemon(users=users, config=dict(extra or {}), host=host)
    d.ca = TestCA(d.dir)
    chain, key, serial = d.ca.issue("server", **({"san": san} if san else {}))
    d.cert_serial = serial
    d.tls_port = h.free_port(host)
    d.config["listen_tls"] = "%s:%d" % (host, d.tls_port)
    d.config["tls_cert"] = chain
    d.config["tls_key"] = key
    d.config.update(extra or {})
    d.write_config()
    return d


wire_retr = h.wire_retr


def peer_serial(sslsock):
    """Serial number of the certificate the server presented."""
    der = sslsock.getpeercert(binary_form=True)
    p = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout",
                        "-serial"], input=der, stdout=subprocess.PIPE,
                       check=True)
    return int(p.stdout.decode().strip().split("=")[1], 16)


def raw_tls(host, port, ctx, server_hostname="127.0.0.1", timeout=10):
    """An implicit-TLS harness.RawClient."""
    s = socket.create_connection((host, port), timeout)
    return h.RawClient(ctx.wrap_socket(s, server_hostname=server_hostname))
