#!/usr/bin/env bash
# Screenshots of the running compose stack for the documentation, in headless Chromium
# (Debian's `chromium`): Flower's task list with a repair task, Prometheus's alerts page,
# Grafana's dashboard where its image exists, and the API's docs page (FastAPI's Swagger UI,
# from npm's swagger-ui-dist, over the API's own /openapi.json). Writes docs/img/*.png.
#
#   scripts/stack.sh up --demo && scripts/screenshots.sh
#
# It makes the demo unhealthy once (POST /chaos/unhealthy) so Flower has a repair to show.
# Env: HEALER_STACK_ENV (the stack's .env, default ./.env), CHROMIUM (default chromium),
#      PYTHON (default python3), HEALER_SHOTS_DIR (default docs/img).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo_root=$(pwd)
env_file=${HEALER_STACK_ENV:-$repo_root/.env}
out=${HEALER_SHOTS_DIR:-$repo_root/docs/img}
chromium=${CHROMIUM:-chromium}
python=${PYTHON:-python3}

log() { printf '[shots] %s\n' "$*"; }
die() {
  printf '[shots] ERROR: %s\n' "$*" >&2
  exit 1
}

command -v "$chromium" >/dev/null || die "no $chromium (apt-get install chromium)"
command -v npm >/dev/null || die "no npm (apt-get install npm)"
[[ -f $env_file ]] || die "no $env_file: start the stack first (scripts/stack.sh up --demo)"
value() { sed -n "s/^$1=//p" "$env_file" | tail -n 1; }
addr=$(value PUBLISH_ADDR)
addr=${addr:-127.0.0.1}
flower_password=$(value FLOWER_PASSWORD)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

shoot() { # URL FILE [WIDTH,HEIGHT]
  "$chromium" --headless=new --no-sandbox --disable-gpu --hide-scrollbars --no-first-run --allow-file-access-from-files \
    --user-data-dir="$work/profile" --window-size="${3:-1200,760}" --virtual-time-budget=8000 \
    --screenshot="$work/shot.png" "$1" >/dev/null 2>&1 || die "chromium could not load $1"
  # A 256-colour palette keeps a UI screenshot small enough for the repository.
  "$python" - "$work/shot.png" "$2" <<'PY'
import sys
from PIL import Image
Image.open(sys.argv[1]).convert("RGB").quantize(colors=256).save(sys.argv[2], optimize=True)
PY
  local shown=${1//:$flower_password@/:***@}
  log "$2 ($(du -k "$2" | cut -f1) KiB) from ${shown//:${grafana_password:-none}@/:***@}"
}

# --- a repair for Flower to show ---------------------------------------------------------------
flower=http://admin:$flower_password@$addr:5555
curl -fsS -m 5 -X POST "http://$addr:8080/chaos/unhealthy" >/dev/null ||
  die "the demo does not answer on $addr:8080 (scripts/stack.sh up --demo)"
log "demo made unhealthy; waiting for the healer's repair task in Flower"
for ((i = 0; i < 90; i++)); do
  curl -fsS -m 5 "$flower/api/tasks?taskname=healer.repair.service" | grep -q '"state": *"SUCCESS"' && break
  sleep 2
done
((i < 90)) || die "no successful healer.repair.service task in Flower within 180 s"
shoot "$flower/tasks" "$out/flower-tasks.png"

# --- Prometheus's alerts (Debian's Prometheus serves the classic UI) -----------------------------
prom=http://$addr:9090
[[ $(curl -s -o /dev/null -w '%{http_code}' "$prom/alerts") == 200 ]] || prom=$prom/classic
shoot "$prom/alerts" "$out/prometheus-alerts.png" 1200,900

# --- Grafana's dashboard, where its image exists (it has no Debian package) -----------------------
grafana_password=$(value GRAFANA_ADMIN_PASSWORD)
if curl -fsS -m 5 "http://$addr:3000/api/health" >/dev/null 2>&1; then
  shoot "http://admin:$grafana_password@$addr:3000/d/auto-repair?kiosk" "$out/grafana.png" 1200,900
else
  log "Grafana does not answer on $addr:3000 (no image on this engine): no grafana.png"
fi

# --- the API's docs: the Swagger UI FastAPI serves (npm's swagger-ui-dist), the API's own spec ---
curl -fsS -m 10 "http://$addr:8000/openapi.json" -o "$work/openapi.json" || die "the API does not answer"
(cd "$work" && npm pack --silent swagger-ui-dist@5 >/dev/null) || die "npm could not fetch swagger-ui-dist"
tar -xzf "$work"/swagger-ui-dist-*.tgz -C "$work"
dist=$work/package
cat >"$work/docs.html" <<HTML
<!doctype html><html><head><meta charset="utf-8"><title>compose-healer - Swagger UI</title>
<link rel="stylesheet" href="file://$dist/swagger-ui.css"></head><body><div id="ui"></div>
<script src="file://$dist/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({spec: $(cat "$work/openapi.json"), dom_id: "#ui"});</script>
</body></html>
HTML
shoot "file://$work/docs.html" "$out/api-docs.png" 1200,900
log "done"
