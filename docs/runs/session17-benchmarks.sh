#!/bin/bash
# Session 17 benchmark runs: 0.6.1 = commit e860840 in a worktree at /tmp/old, 0.6.2 = this
# checkout; a virtual environment with only `pip install -e .` (/work/venv-plain).
PY=/work/venv-plain/bin/python
cd "$(dirname "$0")"  # the JSON files go beside this script
code() { [ "$1" = /tmp/old ] && echo 0.6.1 || echo 0.6.2; }
for run in 1 2; do  # 24 MP peak RSS -> session17-big.jsonl
  for tree in /tmp/old /work/main; do
    for args in "--backbones efficientnet_lite0 --precision float32" "--backbones efficientnet_lite0 --precision auto" \
                "--backbones inception_resnet_v2 --precision float32" "--backbones inception_resnet_v2 --precision auto" \
                "--backbones inception_resnet_v2 --dtype-policy bfloat16"; do
      out=$(cd $tree && PYTHONPATH=$tree $PY benchmarks/colorize.py --big $args 2>/dev/null | tail -1)
      echo "{\"run\": $run, \"code\": \"$(code $tree)\", \"figures\": $out}" >> session17-big.jsonl
    done
  done
  out=$(PYTHONPATH=/work/main $PY benchmarks/colorize.py --big --backbones efficientnet_lite0 --dtype-policy bfloat16 2>/dev/null | tail -1)
  echo "{\"run\": $run, \"code\": \"0.6.2\", \"figures\": $out}" >> session17-big.jsonl
done
for tree in /tmp/old /work/main; do  # the command line on 4 photos of 24 MP -> session17-big-folder.jsonl
  out=$(cd $tree && PYTHONPATH=$tree $PY benchmarks/colorize.py --big-folder 4 --backbones efficientnet_lite0 2>/dev/null | tail -1)
  echo "{\"run\": 1, \"code\": \"$(code $tree)\", \"figures\": $out}" >> session17-big-folder.jsonl
done
for run in 1 2; do  # images/s -> session17-throughput.jsonl
  for tree in /tmp/old /work/main; do
    for args in "--backbones efficientnet_lite0" "--preset koala-lite0"; do
      out=$(cd $tree && PYTHONPATH=$tree $PY benchmarks/colorize.py $args --repeats 2 2>/dev/null | tail -1)
      echo "{\"run\": $run, \"code\": \"$(code $tree)\", \"figures\": $out}" >> session17-throughput.jsonl
    done
  done
done
for run in 1 2 3; do  # -> session17-lightness.jsonl
  for tree in /tmp/old /work/main; do
    PYTHONPATH=$tree $PY session17-lightness.py $(code $tree) 2>/dev/null >> session17-lightness.jsonl
  done
done
for run in 1 2; do  # the edge-aware merge and the preset -> session17-edge-aware-merge.jsonl, session17-preset.jsonl
  for tree in /tmp/old /work/main; do
    for size in "640 480" "1280 720"; do
      out=$(cd $tree && PYTHONPATH=$tree $PY benchmarks/full_resolution.py --size $size 2>/dev/null | tail -1)
      echo "{\"run\": $run, \"code\": \"$(code $tree)\", \"figures\": $out}" >> session17-edge-aware-merge.jsonl
    done
    out=$(cd $tree && PYTHONPATH=$tree $PY benchmarks/colorize.py --preset koala-lite0 --repeats 2 2>/dev/null | tail -1)
    echo "{\"run\": $run, \"code\": \"$(code $tree)\", \"figures\": $out}" >> session17-preset.jsonl
  done
done
for tree in /tmp/old /work/main; do  # video (needs PyAV: the development environment) -> session17-video.jsonl
  (cd $tree && PYTHONPATH=$tree /work/venv/bin/python benchmarks/video.py 2>/dev/null) | sed "s/^{/{\"code\": \"$(code $tree)\", /" >> session17-video.jsonl
done
# The held-out colors and precision figures with 0.6.2 (docs/runs/precision-heldout-0.6.2.jsonl):
#   deepkoala evaluate DATA/heldout --precision float32 --json
#   python benchmarks/precision.py DATA/heldout --presets koala-lite0 --openvino
