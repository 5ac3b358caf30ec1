#!/usr/bin/env bash
# Deploys NetTrace to Fly: the central app and one collector app per fly/collector-*.toml, all
# from one image built once per run.
#
#   fly/deploy.sh [--dry-run] [--org ORG] [--only central|collectors]
#
# Idempotent: an app or a secret that exists is left alone (a rerun never rotates a secret), a
# volume smaller than VOLUME_GB is extended; each run rolls the current commit out. --dry-run
# prints every command instead of running it, planning for an empty org, and needs neither
# flyctl nor a login. Secret values are never printed. Publishing (optional): set NETTRACE_PAGES_REMOTE=https://github.com/OWNER/REPO.git
# and NETTRACE_PAGES_TOKEN (a token allowed to push to that repository) in the environment.
set -euo pipefail

FLY="${FLYCTL:-flyctl}"
CENTRAL_CONFIG="fly/central.toml"
DOCKERFILE="fly/Dockerfile"
VOLUME="nettrace_data"
VOLUME_GB=10  # bench/disk.py: the database at steady state (about 3 GB) with >= 2x headroom

dry_run=0
org="${FLY_ORG:-personal}"
only="all"

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry_run=1 ;;
    --org) org="${2:?--org needs a value}"; shift ;;
    --only) only="${2:?--only needs a value}"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "deploy.sh: unknown argument '$1' (see --help)" >&2; exit 64 ;;
  esac
  shift
done
case "$only" in
  all|central|collectors) ;;
  *) echo "deploy.sh: --only '$only': expected central or collectors" >&2; exit 64 ;;
esac

cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ "$dry_run" = 0 ] && ! command -v "$FLY" >/dev/null; then
  echo "deploy.sh: $FLY not found; install flyctl and run 'fly auth login' (or try --dry-run)" >&2
  exit 69
fi

toml_value() {  # toml_value FILE KEY: a top-level string of a fly.toml (app, primary_region)
  sed -n "s/^$2 = \"\\(.*\\)\"\$/\\1/p" "$1"
}

run() {  # print a command, then run it unless --dry-run
  printf '+ %s\n' "$*"
  [ "$dry_run" = 1 ] || "$@"
}

exists() {  # exists app APP | exists volume|secret APP NAME; always false in --dry-run
  [ "$dry_run" = 0 ] || return 1
  case "$1" in
    app) "$FLY" status --app "$2" >/dev/null 2>&1 ;;
    volume) "$FLY" volumes list --app "$2" --json | grep -qi "\"name\": *\"$3\"" ;;
    secret) "$FLY" secrets list --app "$2" --json | grep -qi "\"name\": *\"$3\"" ;;
  esac
}

new_secret() { od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; }

volume_size() {  # volume_size APP NAME: "ID SIZE_GB" of the app's volume NAME (flyctl's JSON)
  "$FLY" volumes list --app "$1" --json | python3 -c '
import json, sys
print(*next((v["id"], v["size_gb"]) for v in json.load(sys.stdin) if v["name"] == sys.argv[1]))
' "$2"
}

ensure_volume() {  # create the central volume, or grow one made smaller before (never shrinks)
  local found id size
  if ! exists volume "$central" "$VOLUME"; then
    run "$FLY" volumes create "$VOLUME" --app "$central" --region "$central_region" \
      --size "$VOLUME_GB" --yes
    return 0
  fi
  found="$(volume_size "$central" "$VOLUME")"
  read -r id size <<<"$found"
  if [ "$size" -lt "$VOLUME_GB" ]; then
    run "$FLY" volumes extend "$id" --app "$central" --size "$VOLUME_GB" --yes
  fi
}

staged=" "  # apps with staged secrets: a deploy applies them, `secrets deploy` otherwise
deployed=" "
set_secrets() {  # set_secrets APP NAME=VALUE...: staged through stdin, so values stay out of argv
  local app="$1"; shift
  printf '+ %s secrets import --app %s --stage  # stdin: %s\n' "$FLY" "$app" "${*%%=*}"
  case "$staged" in *" $app "*) ;; *) staged="$staged$app " ;; esac
  [ "$dry_run" = 1 ] || printf '%s\n' "$@" | "$FLY" secrets import --app "$app" --stage
}

ensure_app() { exists app "$1" || run "$FLY" apps create "$1" --org "$org"; }

ensure_region_secret() {  # a collector and central share its region's push secret: both or neither
  local config="$1" app region var value
  app="$(toml_value "$config" app)"
  region="$(toml_value "$config" primary_region)"
  var="NETTRACE_SECRET_$(printf '%s' "$region" | tr '[:lower:]' '[:upper:]')"
  if exists secret "$app" NETTRACE_PUSH_SECRET && exists secret "$central" "$var"; then
    return 0
  fi
  value="$(new_secret)"
  set_secrets "$app" "NETTRACE_PUSH_SECRET=$value"
  set_secrets "$central" "$var=$value"
}

deploy_app() {  # one machine per app, in the app's primary_region, from the image built above
  run "$FLY" deploy . --config "$1" --image "$image" --ha=false
  deployed="$deployed$(toml_value "$1" app) "
}

central="$(toml_value "$CENTRAL_CONFIG" app)"
central_region="$(toml_value "$CENTRAL_CONFIG" primary_region)"
collectors=(fly/collector-*.toml)
tag="nettrace-$(git describe --always --dirty 2>/dev/null || date -u +%Y%m%d%H%M%S)"
image="registry.fly.io/$central:$tag"
echo "# NetTrace deploy: org $org, central $central ($central_region), ${#collectors[@]} collectors, image $image"

# The central app owns the image; it is created even for --only collectors.
ensure_app "$central"
ensure_volume
# The pepper hashes API keys: it is made once and never rotated (rotating would void every key).
exists secret "$central" NETTRACE_KEY_PEPPER || set_secrets "$central" "NETTRACE_KEY_PEPPER=$(new_secret)"
if [ -n "${NETTRACE_PAGES_REMOTE:-}" ]; then
  set_secrets "$central" "NETTRACE_PAGES_REMOTE=$NETTRACE_PAGES_REMOTE" \
    "NETTRACE_PAGES_TOKEN=${NETTRACE_PAGES_TOKEN:?NETTRACE_PAGES_TOKEN must be set with NETTRACE_PAGES_REMOTE}"
fi
for config in "${collectors[@]}"; do
  ensure_app "$(toml_value "$config" app)"
  ensure_region_secret "$config"
done

run "$FLY" deploy . --config "$CENTRAL_CONFIG" --dockerfile "$DOCKERFILE" --build-only --push \
  --remote-only --image-label "$tag"
[ "$only" = collectors ] || deploy_app "$CENTRAL_CONFIG"
if [ "$only" != central ]; then
  for config in "${collectors[@]}"; do
    deploy_app "$config"
  done
fi
for app in $staged; do  # e.g. a new region secret on central during --only collectors
  case "$deployed" in *" $app "*) ;; *) run "$FLY" secrets deploy --app "$app" ;; esac
done
echo "# done: site and API at https://$central.fly.dev/ (ingest is private: $central.internal:8701)"
