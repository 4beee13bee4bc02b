#!/bin/sh
# gen-certs.sh DIR: test certificates for the unit tests, the integration
# tests and the demo. Never for production: the keys are not encrypted and
# sit next to the CA's key.
#
#   ca-cert.pem, ca-key.pem               the test CA
#   host-a-cert.pem, host-a-key.pem       signed by the CA; CN host-a,
#   host-b-cert.pem, host-b-key.pem       DNS SANs host-X and host-X.example,
#   host-c-cert.pem, host-c-key.pem       server and client use (host-c is the
#                                         one to leave out of allowed_peers)
#   expired-cert.pem, expired-key.pem     signed by the CA, valid in 2020 only
#   rogue-ca-cert.pem, rogue-ca-key.pem   an unrelated CA
#   rogue-cert.pem, rogue-key.pem         signed by the rogue CA, CN rogue
#
# EC P-256 keys, so a whole set takes a fraction of a second. Idempotent:
# when DIR already holds a complete set that is still valid for a day, it is
# left alone; otherwise the whole set is made anew (a lock keeps concurrent
# runs on one DIR from mixing two sets).
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 DIR" >&2
	exit 2
fi
mkdir -p "$1"
dir=$(cd "$1" && pwd)

FILES="ca-cert.pem ca-key.pem
host-a-cert.pem host-a-key.pem host-b-cert.pem host-b-key.pem
host-c-cert.pem host-c-key.pem expired-cert.pem expired-key.pem
rogue-ca-cert.pem rogue-ca-key.pem rogue-cert.pem rogue-key.pem"

set_is_complete() {
	for f in $FILES; do
		[ -s "$dir/$f" ] || return 1
	done
	for f in ca-cert.pem host-a-cert.pem host-b-cert.pem host-c-cert.pem \
		rogue-ca-cert.pem rogue-cert.pem; do
		openssl x509 -in "$dir/$f" -noout -checkend 86400 >/dev/null 2>&1 || return 1
	done
}

if command -v flock >/dev/null 2>&1; then
	exec 9>"$dir/.gen-certs.lock"
	flock 9
fi
set_is_complete && exit 0

work=$(mktemp -d "$dir/.gen-certs.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 1' INT TERM

# key NAME: an EC P-256 private key in NAME-key.pem.
key() {
	(umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out "$work/$1-key.pem" 2>/dev/null)
}

# ca NAME CN: a self-signed CA certificate, ten years.
ca() {
	key "$1"
	openssl req -new -x509 -key "$work/$1-key.pem" -subj "/CN=$2" -days 3650 -sha256 \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-addext "subjectKeyIdentifier=hash" \
		-out "$work/$1-cert.pem" 2>/dev/null
}

# extensions NAME: the extensions of a leaf certificate whose CN is NAME.
extensions() {
	cat >"$work/$1.ext" <<EOF
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:$1, DNS:$1.example
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
}

# leaf NAME CA: NAME-cert.pem, CN NAME, signed by CA for ten years.
leaf() {
	key "$1"
	extensions "$1"
	openssl req -new -key "$work/$1-key.pem" -subj "/CN=$1" -out "$work/$1.csr" 2>/dev/null
	openssl x509 -req -in "$work/$1.csr" -CA "$work/$2-cert.pem" -CAkey "$work/$2-key.pem" \
		-set_serial "0x$(openssl rand -hex 8)" -days 3650 -sha256 \
		-extfile "$work/$1.ext" -out "$work/$1-cert.pem" 2>/dev/null
}

# expired NAME CA: like leaf, but valid only in 2020. `openssl x509` cannot
# backdate a certificate; `openssl ca` can, given a minimal configuration.
expired() {
	key "$1"
	extensions "$1"
	openssl req -new -key "$work/$1-key.pem" -subj "/CN=$1" -out "$work/$1.csr" 2>/dev/null
	mkdir "$work/ca-db"
	: >"$work/ca-db/index.txt"
	openssl rand -hex 8 >"$work/ca-db/serial"
	cat >"$work/ca.cnf" <<EOF
[ca]
default_ca = test_ca

[test_ca]
database = $work/ca-db/index.txt
new_certs_dir = $work/ca-db
serial = $work/ca-db/serial
certificate = $work/$2-cert.pem
private_key = $work/$2-key.pem
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none

[policy_any]
commonName = supplied
EOF
	openssl ca -batch -notext -config "$work/ca.cnf" -in "$work/$1.csr" \
		-startdate 20200101000000Z -enddate 20210101000000Z \
		-extfile "$work/$1.ext" -out "$work/$1-cert.pem" 2>/dev/null
}

ca ca "vfio-migd test CA"
leaf host-a ca
leaf host-b ca
leaf host-c ca
expired expired ca
ca rogue-ca "vfio-migd rogue CA"
leaf rogue rogue-ca

for f in $FILES; do
	mv -f "$work/$f" "$dir/$f"
done
