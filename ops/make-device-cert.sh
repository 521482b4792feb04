#!/usr/bin/env bash
# Makes a DEVELOPMENT device certificate for mutual TLS against a node's development CA.
#
#   ops/make-device-cert.sh <data-dir> <thing-name> [out-dir]
#
# Reads <data-dir>/tls/dev-ca.pem and dev-ca.key (made by the node on its first start), writes
# <out-dir>/<thing-name>.key (EC P-256, mode 0600) and <out-dir>/<thing-name>.pem (CN=<thing-name>, clientAuth,
# 365 days). out-dir defaults to <data-dir>/tls/devices. Never overwrites: delete the old pair first.
# Then prints the paths, the AWS certificate id (SHA-256 of the DER) and a mosquitto_pub example.
# Needs the openssl CLI (1.1.1 or 3.x). Development only: anyone holding dev-ca.key can mint such certificates.
set -euo pipefail

usage() { echo "usage: $0 <data-dir> <thing-name> [out-dir]" >&2; exit 2; }
[ $# -ge 2 ] && [ $# -le 3 ] || usage
data_dir=$1
thing=$2
out_dir=${3:-$data_dir/tls/devices}
ca_cert=$data_dir/tls/dev-ca.pem
ca_key=$data_dir/tls/dev-ca.key

# AWS thing names are [a-zA-Z0-9:_-]{1,128}; this also keeps the name safe in a subject and a file name.
if ! [[ $thing =~ ^[a-zA-Z0-9:_-]{1,128}$ ]]; then
    echo "$0: '$thing' is not a valid thing name ([a-zA-Z0-9:_-], 1-128 characters)" >&2
    exit 2
fi
for f in "$ca_cert" "$ca_key"; do
    [ -r "$f" ] || { echo "$0: cannot read $f (start the node once with --data-dir $data_dir)" >&2; exit 1; }
done
command -v openssl >/dev/null || { echo "$0: the openssl command is needed" >&2; exit 1; }

key=$out_dir/$thing.key
cert=$out_dir/$thing.pem
for f in "$key" "$cert"; do
    [ ! -e "$f" ] || { echo "$0: $f exists; delete it to make a new one" >&2; exit 1; }
done

umask 077  # the key is created 0600, and so is the directory if it is new
mkdir -p "$out_dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat >"$work/ext.cnf" <<'EOF'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/key.pem" 2>/dev/null
openssl req -new -key "$work/key.pem" -subj "/CN=$thing" -out "$work/req.pem"
# A random 16-byte serial (as the node's own certificates) instead of a dev-ca.srl file next to the CA.
openssl x509 -req -in "$work/req.pem" -CA "$ca_cert" -CAkey "$ca_key" -set_serial "0x$(openssl rand -hex 16)" \
    -days 365 -sha256 -extfile "$work/ext.cnf" -out "$work/cert.pem" 2>/dev/null
openssl verify -CAfile "$ca_cert" -purpose sslclient "$work/cert.pem" >/dev/null

mv "$work/key.pem" "$key"
chmod 0644 "$work/cert.pem"
mv "$work/cert.pem" "$cert"
id=$(openssl x509 -in "$cert" -outform der | sha256sum | cut -d' ' -f1)

cat <<EOF
device key:         $key
device certificate: $cert
certificate id:     $id
CA (trust anchor):  $ca_cert

The node accepts this certificate for a tenant where it, or the development CA, is registered ACTIVE
(ops/configuration.md, "Development certificates"). What it may do is decided by the IoT policies attached to
arn:aws:iot:<region>:<account>:cert/$id (default deny, as AWS; a node started with --policies off skips them):

  aws iot attach-policy --endpoint-url http://127.0.0.1:8080 --policy-name <policy> \\
      --target arn:aws:iot:us-east-1:<account>:cert/$id

Then try it:

  mosquitto_pub -h 127.0.0.1 -p 8883 --cafile $ca_cert \\
      --cert $cert --key $key -t t -m hi
EOF
