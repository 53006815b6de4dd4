#!/bin/bash
# `catalog-service/bench/media.sh target/release/catalog-service` (it listens
# on 127.0.0.1:18702: run one at a time).
# Serves one stored image from a catalog-service binary and measures
# GET /media/<key>?w=400 with wrk at 64 connections. Needs no database (the
# media route reads storage only). Usage: run.sh <catalog-service binary>
set -euo pipefail
BIN=$1
DIR=$(mktemp -d)
python3 - "$DIR" <<'PY'
import sys, zlib, struct, hashlib, os
w, h = 1200, 800
raw = b''.join(b'\x00' + bytes(v for x in range(w) for v in (x * 255 // w, y * 255 // h, 128)) for y in range(h))
def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
png = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(raw, 6)) + chunk(b'IEND', b'')
key = hashlib.sha256(png).hexdigest() + '.png'
os.makedirs(sys.argv[1] + '/originals', exist_ok=True)
open(sys.argv[1] + '/originals/' + key, 'wb').write(png)
open(sys.argv[1] + '/key', 'w').write(key)
PY
KEY=$(cat "$DIR/key")
APP__DATABASE__MIGRATE_ON_START=false APP__SERVER__PORT=18702 APP__MEDIA__PATH="$DIR" APP__CACHE__ENABLED=false RUST_LOG=warn \
  APP__DATABASE__URL=postgres://nobody:nothing@127.0.0.1:1/none "$BIN" serve > "$DIR/log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:18702/media/$KEY" && break; sleep 0.1; done
curl -s -D - -o /dev/null "http://127.0.0.1:18702/media/$KEY?w=400" | head -5
wrk -t2 -c64 -d15s "http://127.0.0.1:18702/media/$KEY?w=400"
