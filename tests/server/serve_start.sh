# Sourced by the server's shell tests: serve_start ERRFILE ARGS... starts `$LLMOPS serve
# ARGS... --port 0` in the background with stderr to ERRFILE, waits (10 s at most) for its
# "listening on" line and sets PID and PORT; on failure prints ERRFILE and returns 1.
serve_start() {
    serve_err=$1
    shift
    "$LLMOPS" serve "$@" --port 0 2>"$serve_err" &
    PID=$!
    PORT=
    for _ in $(seq 1 100); do
        PORT=$(sed -n 's/^listening on http:\/\/127\.0\.0\.1:\([0-9]*\)$/\1/p' "$serve_err")
        [ -n "$PORT" ] && return 0
        sleep 0.1
    done
    cat "$serve_err"
    return 1
}
