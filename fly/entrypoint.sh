#!/bin/sh
# The container's entrypoint: `entrypoint.sh collector|central [OPTION...]`; options go on to
# `nettrace collect` or `nettrace run` (e.g. `collector --now` for a round at once).
# Fly machines are Firecracker VMs, not Docker containers: there is no --cap-add, the process
# starts as root with every capability, and this script keeps only what each role needs.
set -eu
data="${NETTRACE_DATA_DIR:-/data}"
app="${NETTRACE_APP_DIR:-/app}"
user="${NETTRACE_USER:-nettrace}"  # the central service's account (the Dockerfile creates it)

need() {  # need NAME: the variable must be set and non-empty
  eval "value=\${$1:-}"
  if [ -z "$value" ]; then
    echo "entrypoint: environment variable $1 is not set (fly.toml [env] or fly secrets)" >&2
    exit 78
  fi
}

role="${1:-}"
[ $# -eq 0 ] || shift
case "$role" in
  collector)
    need NETTRACE_REGION
    need NETTRACE_PUSH_URL
    need NETTRACE_PUSH_SECRET
    mkdir -p "$data/spool"
    # The probes check euid 0 (trace reads routers' time-exceeded replies on a raw socket), so
    # uid 0 stays; the bounding set drops every capability except CAP_NET_RAW.
    exec setpriv --bounding-set=-all,+net_raw --inh-caps=-all --no-new-privs -- \
      nettrace collect --targets "$app/targets.toml" --region "$NETTRACE_REGION" \
        --every 15m --push "$NETTRACE_PUSH_URL" --spool "$data/spool" "$@"
    ;;
  central)
    need NETTRACE_KEY_PEPPER
    # Every region in the catalog pushes with its own secret; a missing one must not be made up.
    for code in $(python -c "import sys, tomllib; print(*tomllib.load(open(sys.argv[1], 'rb'))['regions'])" "$app/targets.toml"); do
      need "NETTRACE_SECRET_$(echo "$code" | tr '[:lower:]' '[:upper:]')"
    done
    # Publishing to gh-pages only when a remote is given: a bare repository on the volume, so
    # each push sends only what changed. Root runs git here on a folder the service user owns.
    if [ -n "${NETTRACE_PAGES_REMOTE:-}" ]; then
      pages="$data/pages"
      [ -f "$pages/HEAD" ] || git init -q --bare "$pages"
      git -c safe.directory="$pages" -C "$pages" remote remove origin 2>/dev/null || true
      git -c safe.directory="$pages" -C "$pages" remote add origin "$NETTRACE_PAGES_REMOTE"
      # The token stays in the environment (a Fly secret), never in the repository's config.
      # shellcheck disable=SC2016
      git -c safe.directory="$pages" -C "$pages" config credential.helper \
        '!f() { echo username=x-access-token; echo "password=$NETTRACE_PAGES_TOKEN"; }; f'
      set -- "$@" --publish-repo "$pages"
    fi
    mkdir -p "$data"
    chown -R "$user:" "$data"  # Fly mounts the volume owned by root
    # Fly's proxy reaches the keyed proxy over IPv4 and names the client in Fly-Client-IP; the
    # collectors reach ingest over 6PN (IPv6).
    exec setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups --bounding-set=-all \
      --inh-caps=-all --no-new-privs -- env HOME="$data" \
      nettrace run --central --targets "$app/targets.toml" --state "$data" \
        --public "$data/public" --private "$data/private" --host 0.0.0.0 --ingest-host :: \
        --port 8700 --ingest-port 8701 --trust-fly-client-ip "$@"
    ;;
  *)
    echo "entrypoint: unknown role '$role' (expected collector or central)" >&2
    exit 64
    ;;
esac
