#!/usr/bin/env bash
# make demo: a tiny random-weight model of the DeepSeek V4 architecture, then ./ds4 on it.
set -euo pipefail
cd "$(dirname "$0")/../.."
model=build/demo-tiny.gguf
shared=${DS4_SHARED:-../shared}
tok=()
# Use the real DeepSeek V4 tokenizer (cut to the tiny vocab) when ../shared is present.
if [ -f "$shared/vectors/oracle/public/hf_topk6/tokenizer.json" ]; then
  tok=(--tokenizer "$shared/vectors/oracle/public/hf_topk6/tokenizer.json")
fi
mkdir -p build
if [ ! -f "$model" ]; then
  echo "== writing a tiny random-weight DeepSeek V4 model: $model"
  gguf-tools/make-synthetic --preset tiny --quiet --out "$model" "${tok[@]}"
fi
echo
echo "== ./ds4 -m $model -p \"Hello\" -n 48"
echo "   (random weights: the text below is nonsense by design — it shows the pipeline runs)"
echo
./ds4 -m "$model" -p "Hello! Who are you?" -n 48 --seed 1 --ctx 1024
cat <<'MSG'

For real answers you need the real model (~81-153 GB):
  * download a ds4 GGUF from Hugging Face (antirez/deepseek-v4-gguf), or
  * convert the official checkpoint (deepseek-ai/DeepSeek-V4-Flash):
      gguf-tools/deepseek4-quantize --hf /path/to/DeepSeek-V4-Flash --out ds4flash.gguf
then: ./ds4 -m ds4flash.gguf -p "your question"
MSG
