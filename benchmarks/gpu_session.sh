#!/usr/bin/env bash
# Everything we check when a GPU machine is lent, in one run (about 10-11 minutes on an H200):
# the GPU correctness checks, the benchmarks at full SD1.5 size and txt2img at full SDXL size (random weights; txt2img
# with 10 repeats and per-step CUDA-event timings), then the non-browser tests on the GPU.
# The machine has its own torch; our pinned diffusers/transformers travel as wheels in .whl/ (see ARCHITECTURE.md).
#   OUT=/some/folder bash benchmarks/gpu_session.sh
set -o pipefail
OUT=${OUT:-/tmp/gpu-session}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=/tmp/site || exit 1
fi
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
quiet() { grep -v -e "should be kept in float32" -e "Loading pipeline components" -e "^$"; }
stage() { echo; echo "=== $1 ($(date +%T))"; }

stage "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, diffusers, transformers; print('torch', torch.__version__, 'diffusers', diffusers.__version__, 'transformers', transformers.__version__, 'cuda', torch.cuda.is_available())"

stage "gpu_checks"
timeout 180 python3 benchmarks/gpu_checks.py 2>&1 | quiet | tee "$OUT/gpu_checks.log"

stage "sync_check (host-device syncs inside the sampling loops, tiny models)"
timeout 150 python3 benchmarks/sync_check.py 2>&1 | quiet | tee "$OUT/sync_check.log"

stage "bench_txt2img sd15 512"
timeout 180 python3 benchmarks/bench_txt2img.py --model sd15 --device cuda --size 512 --steps 20 2>&1 | quiet | tee "$OUT/bench_txt2img.log"

stage "bench_txt2img sdxl 1024"
timeout 300 python3 benchmarks/bench_txt2img.py --model sdxl --device cuda --size 1024 --steps 20 2>&1 | quiet | tee "$OUT/bench_txt2img_sdxl.log"

stage "bench_controlnet sd15 512"
timeout 170 python3 benchmarks/bench_controlnet.py --model sd15 --device cuda --size 512 --steps 20 --repeats 3 2>&1 | quiet | tee "$OUT/bench_controlnet.log"

stage "bench_lora sd15"
timeout 100 python3 benchmarks/bench_lora.py --model sd15 --device cuda --repeats 3 2>&1 | quiet | tee "$OUT/bench_lora.log"

stage "bench_model_switch sd15"
timeout 100 python3 benchmarks/bench_model_switch.py --model sd15 --device cuda --repeats 2 2>&1 | quiet | tee "$OUT/bench_model_switch.log"

stage "pytest on the GPU (no browser, no API)"
timeout "${PYTEST_SECONDS:-150}" python3 -m pytest -q -p no:cacheprovider --continue-on-collection-errors -m "not slow" -n 8 tests/generation tests/services tests/models tests/prompting \
    2>&1 | tail -60 | tee "$OUT/pytest.log"
stage "done"
