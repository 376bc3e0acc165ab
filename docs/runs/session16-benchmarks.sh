#!/bin/bash
# Session 16 benchmark runs: old = cca9c29 (worktree /tmp/old), new = this checkout; venv-plain (pip install -e . only).
cd /work/main
PY=/work/venv-plain/bin/python
OUT=/work/runs16
tag() { python3 -c "import json,sys; [print(json.dumps({**json.loads(l), 'code': '$1', 'run': '$2'})) for l in sys.stdin if l.startswith('{')]"; }
for run in 1 2; do
  for code in old new; do
    if [ $code = old ]; then PP=/tmp/old; else PP=/work/main; fi
    PYTHONPATH=$PP $PY benchmarks/colorize.py --backbones efficientnet_lite0 2>/dev/null | tag $code $run >> $OUT/lite0-auto.jsonl
    PYTHONPATH=$PP $PY benchmarks/colorize.py --preset koala-lite0 2>/dev/null | tag $code $run >> $OUT/preset-auto.jsonl
  done
done
for code in old new; do
  if [ $code = old ]; then PP=/tmp/old; else PP=/work/main; fi
  PYTHONPATH=$PP $PY benchmarks/colorize.py --backbones efficientnet_lite0 --precision float32 2>/dev/null | tag $code 1 >> $OUT/lite0-float32.jsonl
done
for run in 1 2; do
  PYTHONPATH=/work/main $PY benchmarks/colorize.py --backbones inception_resnet_v2 2>/dev/null | tag new $run >> $OUT/irv2-auto.jsonl
done
for run in 1 2; do
  for code in old new; do
    if [ $code = old ]; then PP=/tmp/old; else PP=/work/main; fi
    for p in float32 auto; do
      PYTHONPATH=$PP $PY benchmarks/colorize.py --big --precision $p 2>/dev/null | tag $code $run >> $OUT/big.jsonl
    done
  done
done
echo done > $OUT/done
