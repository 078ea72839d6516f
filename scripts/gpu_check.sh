#!/usr/bin/env bash
# GPU figures and checks on a CUDA machine that has no package index (docs/benchmarks.md,
# "GPU figures"). Run from the checkout's root:
#
#     scripts/gpu_check.sh STAGE...      stages, in any order: ort gl model frame test train
#
# What the machine lacks travels beside the checkout (all gitignored):
#   .gl/*.deb    the glvnd loaders (libEGL, libGL, libOpenGL) that EGL needs to find the NVIDIA driver
#   .whl/*.whl   moderngl, glcontext, glfw, pyrr, jsonschema and its dependencies
#   .ort*/part*  onnxruntime-gpu (CUDA 13 build) as `tar c onnxruntime* | xz | split`, each part in
#                its own folder (.ort0, .ort1, ...) with a copy of SHA256 (of the whole archive), so
#                each call carries one folder under the 64 MiB limit; `ort` gathers them
# The machine's Python holds numpy, torch, onnx, pillow, tqdm and cuda-bindings (CUDA-GL interop).
# A stage whose inputs are missing says so and the others still run. Logs and JSON go to $OUT.
set -uo pipefail
OUT=${OUT:-out/gpu}
SITE=/tmp/skyviewer-site
DATA=/tmp/skyviewer-sim2048
PARTS=/tmp/ortparts
mkdir -p "$OUT" "$SITE"
export PYTHONPATH=$SITE:$PWD PYTHONUNBUFFERED=1

setup() {
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
    local vendor=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
    [ -f $vendor ] && export __EGL_VENDOR_LIBRARY_FILENAMES=$vendor
    [ -d $SITE/moderngl ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --upgrade --target $SITE .whl/*.whl
    # skyviewer's metadata (export reads its version); its code comes from the checkout
    if [ ! -d $SITE/skyviewer-0.1.0.dist-info ]; then
        python3 -m pip install -q --no-index --no-deps --no-build-isolation --target $SITE . && rm -rf $SITE/skyviewer
    fi
    # The CUDA libraries onnxruntime-gpu links against, from the NVIDIA wheels beside torch.
    local nvidia
    nvidia=$(python3 -c 'import nvidia, os; print(os.path.dirname(nvidia.__file__ or nvidia.__path__[0]))')
    LD_LIBRARY_PATH=$(find "$nvidia" -name 'lib*.so*' -printf '%h\n' | sort -u | paste -sd:):${LD_LIBRARY_PATH:-}
    export LD_LIBRARY_PATH
}

install_ort() {
    # Once per machine. The archive is over one call's 64 MiB, so its parts arrive over several
    # calls, each moved out of the checkout (the next call's copy of the tree drops them).
    [ -f $SITE/onnxruntime/capi/libonnxruntime_providers_cuda.so ] && return 0
    mkdir -p $PARTS
    for dir in .ort*/; do
        mv "$dir"part* $PARTS/ 2>/dev/null
        cp "$dir"SHA256 $PARTS/ 2>/dev/null
    done
    [ -f $PARTS/SHA256 ] || { echo "onnxruntime-gpu: no part has arrived"; return 1; }
    cat $PARTS/part* | sha256sum | cut -d' ' -f1 | cmp -s - <(cut -d' ' -f1 $PARTS/SHA256) \
        || { echo "onnxruntime-gpu: parts so far: $(ls $PARTS | tr '\n' ' ')"; return 1; }
    cat $PARTS/part* | xz -d | tar x -C $SITE
}

stage_gl() {  # OpenGL through EGL: dome, look-dev scene and the lighting update
    python3 -m skyviewer bench --only lighting --only render --seconds 2 --out "$OUT/gl.json" 2>&1 \
        | tee "$OUT/gl.log"
}

stage_model() {  # ONNX Runtime CUDA: step, decoders, step+decode, the frame on screen, the viewer
    install_ort || return 1
    python3 -c 'import onnxruntime as o; print(o.__version__, o.get_available_providers())'
    python3 -m skyviewer doctor 2>&1 | tee "$OUT/doctor.log"
    python3 -m skyviewer bench --only model --providers cuda --package skyviewer/models/default \
        --seconds 2 --out "$OUT/model.json" 2>&1 | tee "$OUT/model.log"
}

stage_frame() {  # the parts of a new 2,048 px frame on screen (CUDA graphs, CUDA-GL interop)
    install_ort || return 1
    python3 scripts/gpu_frame_parts.py 2>&1 | tee "$OUT/frame.log"
}

stage_test() {  # the tests that need a GPU (they skip elsewhere)
    install_ort || return 1
    python3 -m pytest -q -p no:cacheprovider tests/test_gpu.py 2>&1 | tee "$OUT/test.log"
}

synth() {  # 2,048 px SkySim frames for `train`, in the background on all cores (setsid: it
    # outlives this call, so a later call on the same machine finds it done)
    [ -f $DATA/manifest.json ] || [ -d $DATA.partial ] && return 0
    setsid nohup python3 -m skyviewer dataset synth --out $DATA --sequences 16 --frames 8 \
        --resolution 2048 --heldout-fraction 0 --workers "$(nproc)" >/tmp/synth.log 2>&1 < /dev/null &
    echo "synth started"
}

stage_train() {  # the gpu preset's speed and shapes on real CUDA, a few hundred steps
    [ -f $DATA/manifest.json ] || { echo "train: $DATA not ready"; tail -3 /tmp/synth.log; return 1; }
    rm -rf /tmp/skyviewer-runs
    timeout 240 python3 -m skyviewer train sky --data $DATA --preset gpu --out /tmp/skyviewer-runs \
        --set schedule.total_steps=400 --set schedule.tick_every_steps=100 \
        --set schedule.snapshot_every_steps=400 --set schedule.checkpoint_every_steps=400 2>&1 \
        | tr '\r' '\n' | grep -v '^train sky: .*it/s' | tee "$OUT/train.log"
    local run
    run=$(ls -d /tmp/skyviewer-runs/*/ 2>/dev/null | head -1)
    [ -n "$run" ] && cp "$run"/log.txt "$OUT/train-log.txt" 2>/dev/null
    [ -n "$run" ] && cp "$(ls "$run"/samples-*.png | tail -1)" "$OUT/train-samples.png" 2>/dev/null
    return 0
}

setup
nvidia-smi --query-gpu=name,driver_version,clocks.sm,memory.used --format=csv | tee "$OUT/gpu.txt"
for stage in "$@"; do
    echo "=== $stage"
    case $stage in
        ort) install_ort ;;
        gl | model | frame | test | train) "stage_$stage" || echo "stage $stage failed" ;;
        synth) synth ;;
        *) echo "unknown stage $stage" ;;
    esac
done
