#!/usr/bin/env bash
# make bench: ds4 against llama.cpp on the synthetic bench models, results into docs/PERFORMANCE.md.
#
# For each model: prefill of a 512-token prompt + 32-token greedy decode, REPS runs (each a
# fresh process), medians. ds4 through ./ds4-bench --roofline (its paired read-pass/decode
# fraction, see ds4_bench_main.cpp; the median over the runs), llama.cpp
# through node-llama-cpp 3.22.1 (tests/bench/llama_peer.mjs, installed into build/peer) or,
# with LLAMA_CPP=/path/to/llama-bench, a llama.cpp build of your own. Peak RSS of every run
# from /usr/bin/time -v; the 1-minute load average before every run.
#
# Environment:
#   BENCH_MODELS   presets (bench-q4 bench-q2 tiny) or .gguf paths   default: bench-q4
#   BENCH_THREADS  threads for both engines                          default: nproc
#   BENCH_REPS     runs per engine (medians)                         default: 3
#   BENCH_PROMPT   prompt tokens (= ds4-bench --ctx-max)             default: 512
#   BENCH_GEN      greedy decode tokens                              default: 32
#   BENCH_PEER     0: skip llama.cpp                                 default: 1
#   LLAMA_CPP      llama-bench binary to use instead of node-llama-cpp
#   BENCH_LONG     1: also ds4 decode at 1K and 32K context (slow: prefills 32K tokens)
#   BENCH_DOC      results table to update (empty: do not write)     default: docs/PERFORMANCE.md
#   BENCH_MAX_LOAD wait (up to 10 min) until the 1-min load average is below this; 0 = don't wait
set -euo pipefail
cd "$(dirname "$0")/../.."

MODELS=${BENCH_MODELS:-bench-q4}
THREADS=${BENCH_THREADS:-$(nproc)}
REPS=${BENCH_REPS:-3}
PROMPT=${BENCH_PROMPT:-512}
GEN=${BENCH_GEN:-32}
PEER=${BENCH_PEER:-1}
LONG=${BENCH_LONG:-0}
DOC=${BENCH_DOC-docs/PERFORMANCE.md}
MAX_LOAD=${BENCH_MAX_LOAD:-0}
PEER_DIR=build/peer
OUTDIR=build/bench
NLC_VERSION=3.22.1
mkdir -p "$OUTDIR" "$PEER_DIR"

die() { echo "bench: $*" >&2; exit 1; }
[ -x ./ds4-bench ] || die "./ds4-bench not built (run make)"
TIME=/usr/bin/time
[ -x "$TIME" ] || die "/usr/bin/time (GNU time) is needed for peak RSS: apt-get install time"

load1() { cut -d' ' -f1 /proc/loadavg; }
wait_for_quiet() {
  [ "$MAX_LOAD" = 0 ] && return 0
  local i
  for i in $(seq 60); do
    awk -v l="$(load1)" -v m="$MAX_LOAD" 'BEGIN{exit !(l < m)}' && return 0
    sleep 10
  done
  echo "bench: load average still $(load1) after 10 min; measuring anyway" >&2
}
maxrss_mib() { awk -F': ' '/Maximum resident set size/{printf "%.0f", $2/1024}' "$1"; }
# run_measured OUT ERR cmd...: cmd under /usr/bin/time -v (stdout OUT, stderr ERR), sampling
# the command's /proc/PID/status every 0.5 s; peak RssAnon and RssFile (KiB) go to ERR.mem.
# RssFile is the mapped GGUF pages touched, RssAnon the engine's own memory (KV, scratch, copies).
run_measured() {
  local out=$1 err=$2; shift 2
  "$TIME" -v "$@" >"$out" 2>"$err" &
  local tp=$! cp="" anon=0 file=0 a f k v rest rc=0
  while kill -0 "$tp" 2>/dev/null; do
    [ -z "$cp" ] && cp=$(pgrep -P "$tp" 2>/dev/null | head -1)
    if [ -n "$cp" ] && [ -r "/proc/$cp/status" ]; then
      a=0; f=0
      while read -r k v rest; do
        case $k in RssAnon:) a=$v ;; RssFile:) f=$v ;; esac
      done <"/proc/$cp/status" 2>/dev/null || true
      [ "$a" -gt "$anon" ] && anon=$a
      [ "$f" -gt "$file" ] && file=$f
    fi
    sleep 0.5
  done
  wait "$tp" || rc=$?
  echo "$anon $file" >"$err.mem"
  return $rc
}
mem_mib() { awk -v i="$2" '{printf "%.0f", $i/1024}' "$1.mem" 2>/dev/null; }  # FILE 1=anon 2=file
cpu_pct() { awk -F': ' '/Percent of CPU this job got/{print $2}' "$1"; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END{if(NR==0){print "";exit} if(NR%2) print a[(NR+1)/2]; else printf "%.6g\n",(a[NR/2]+a[NR/2+1])/2}'; }
maxof() { tr ' ' '\n' | grep -v '^$' | sort -g | tail -1; }

# ---- machine ----
CPU=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo | sed 's/  */ /g')
CORES=$(nproc)
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo none)
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] || \
   [ -n "$(git ls-files --others --exclude-standard src kernels 2>/dev/null | head -1)" ]; then
  COMMIT="$COMMIT+dirty"
fi
DATE=$(date -u +%Y-%m-%d)
echo "bench: $CPU, $CORES cores, threads $THREADS, reps $REPS, prompt $PROMPT, gen $GEN, commit $COMMIT"

# ---- llama.cpp peer ----
peer_ready=0
if [ "$PEER" = 1 ] && [ -z "${LLAMA_CPP:-}" ]; then
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "bench: node/npm not found: llama.cpp comparison skipped (or set LLAMA_CPP=/path/to/llama-bench)" >&2
  else
    if [ ! -f "$PEER_DIR/node_modules/node-llama-cpp/package.json" ] || \
       ! grep -q "\"version\": \"$NLC_VERSION\"" "$PEER_DIR/node_modules/node-llama-cpp/package.json"; then
      echo "bench: installing node-llama-cpp@$NLC_VERSION into $PEER_DIR (prebuilt CPU llama.cpp, ~700 MB)"
      cp tests/bench/package.json "$PEER_DIR/package.json"
      npm install --prefix "$PEER_DIR" --no-audit --no-fund --ignore-scripts --save-exact "node-llama-cpp@$NLC_VERSION" >"$PEER_DIR/npm.log" 2>&1 \
        || { tail -5 "$PEER_DIR/npm.log" >&2; die "npm install failed (log: $PEER_DIR/npm.log)"; }
    fi
    peer_ready=1
  fi
elif [ "$PEER" = 1 ]; then
  [ -x "$LLAMA_CPP" ] || die "LLAMA_CPP=$LLAMA_CPP is not executable"
  peer_ready=1
fi

# llama.cpp mainline reads deepseek4.context_length and rope.scaling.original_context_length
# as u32 and rejects the u64 that ds4's writer stores. Files we built (build/*.gguf) are
# narrowed in place (ds4 accepts either), so both engines read the same file; other files
# get a narrowed copy under build/peer/ for llama.cpp only.
peer_model_for() {
  local src=$1 fixed
  command -v python3 >/dev/null || { echo "$src"; return; }
  if python3 tests/bench/gguf_peer_fix.py --check "$src" >/dev/null; then echo "$src"; return; fi
  case "$src" in
    build/*.gguf)
      echo "bench: narrowing u64 keys of $src to u32 for llama.cpp (in place)" >&2
      python3 tests/bench/gguf_peer_fix.py "$src" "$src.fix" >&2 && mv "$src.fix" "$src"
      echo "$src" ;;
    *)
      fixed="$PEER_DIR/$(basename "${src%.gguf}").llama.gguf"
      if [ ! -f "$fixed" ] || [ "$src" -nt "$fixed" ]; then
        echo "bench: writing $fixed (u64 keys narrowed to u32 for llama.cpp)" >&2
        python3 tests/bench/gguf_peer_fix.py "$src" "$fixed" >&2
      fi
      echo "$fixed" ;;
  esac
}

# ---- one model ----
RESULTS=()
bench_model() {
  local spec=$1 model name
  case "$spec" in
    *.gguf) model=$spec; name=$(basename "${spec%.gguf}") ;;
    *) model=build/$spec.gguf; name=$spec
       if [ ! -f "$model" ]; then
         echo "bench: building $model (make-synthetic --preset $spec)"
         gguf-tools/make-synthetic --preset "$spec" --out "$model" --quiet
       fi ;;
  esac
  [ -f "$model" ] || die "$model: no such file"
  local peer_model=$model
  [ "$peer_ready" = 1 ] && [ -z "${LLAMA_CPP:-}" ] && peer_model=$(peer_model_for "$model")
  echo "bench: warming the page cache with $model (2 MiB folios)"
  if command -v python3 >/dev/null; then
    python3 tests/bench/warm_page_cache.py "$model" || cat "$model" >/dev/null
    [ "$peer_model" = "$model" ] || python3 tests/bench/warm_page_cache.py "$peer_model" || true
  else
    cat "$model" >/dev/null
  fi
  local d=$OUTDIR/$name
  mkdir -p "$d"
  local ds4_p="" ds4_g="" ds4_rss="" ds4_anon="" ds4_file="" loads="" cpus="" bpt="" bws="" fracs="" r
  for r in $(seq "$REPS"); do
    wait_for_quiet
    loads="$loads $(load1)"
    run_measured "$d/ds4.$r.out" "$d/ds4.$r.err" ./ds4-bench -m "$model" -t "$THREADS" --ctx-start "$PROMPT" \
      --ctx-max "$PROMPT" --gen-tokens "$GEN" --roofline \
      || { tail -3 "$d/ds4.$r.err" >&2; die "ds4-bench failed on $model (log: $d/ds4.$r.err)"; }
    local row; row=$(awk -F, -v c="$PROMPT" '$1==c' "$d/ds4.$r.out" | tail -1)
    [ -n "$row" ] || die "ds4-bench printed no row for ctx $PROMPT ($d/ds4.$r.out)"
    ds4_p="$ds4_p $(echo "$row" | cut -d, -f3)"
    ds4_g="$ds4_g $(echo "$row" | cut -d, -f5)"
    cpus="$cpus $(cpu_pct "$d/ds4.$r.err" | tr -d %)"
    ds4_rss="$ds4_rss $(maxrss_mib "$d/ds4.$r.err")"
    ds4_anon="$ds4_anon $(mem_mib "$d/ds4.$r.err" 1)"; ds4_file="$ds4_file $(mem_mib "$d/ds4.$r.err" 2)"
    # roofline: the read pass over the decode's own weight bytes, paired token by token
    bpt=$(sed -n 's/^roofline: .*bytes_per_token=\([0-9]*\).*/\1/p' "$d/ds4.$r.out")
    bws="$bws $(sed -n 's/^roofline: .*bandwidth_gbs=\([0-9.]*\).*/\1/p' "$d/ds4.$r.out")"
    fracs="$fracs $(sed -n 's/^roofline: .*achieved_fraction=\([0-9.]*\).*/\1/p' "$d/ds4.$r.out")"
    echo "bench: ds4   run $r: prefill $(echo "$row" | cut -d, -f3) t/s, decode $(echo "$row" | cut -d, -f5) t/s, rss $(maxrss_mib "$d/ds4.$r.err") MiB (anon $(mem_mib "$d/ds4.$r.err" 1), file $(mem_mib "$d/ds4.$r.err" 2)), cpu $(cpu_pct "$d/ds4.$r.err"), load $(echo $loads | awk '{print $NF}')"
  done
  local P G RSS KV
  P=$(echo "$ds4_p" | median); G=$(echo "$ds4_g" | median); RSS=$(echo "$ds4_rss" | maxof)
  local ANON FILEM; ANON=$(echo "$ds4_anon" | maxof); FILEM=$(echo "$ds4_file" | maxof)
  KV=$(awk -F, -v c="$PROMPT" '$1==c{print $6}' "$d/ds4.1.out" | tail -1)
  local roof_tps frac bw
  bw=$(echo "$bws" | median); frac=$(echo "$fracs" | median)
  roof_tps=$(awk -v bw="$bw" -v b="$bpt" 'BEGIN{if(b>0) printf "%.2f", bw*1e9/b}')

  local lp="" lg="" lrss="" lanon="" lfile="" LP="" LG="" LRSS="" LANON="" LFILE="" lver=""
  if [ "$peer_ready" = 1 ]; then
    if [ -n "${LLAMA_CPP:-}" ]; then
      wait_for_quiet
      loads="$loads $(load1)"
      run_measured "$d/llama.out" "$d/llama.err" "$LLAMA_CPP" -m "$model" -t "$THREADS" -p "$PROMPT" -n "$GEN" \
        -r "$REPS" -o jsonl || { tail -3 "$d/llama.err" >&2; die "llama-bench failed (log: $d/llama.err)"; }
      # jsonl: one object per test; samples_ts holds every repetition
      lp=$(node -e 'for (const l of require("fs").readFileSync(process.argv[1],"utf8").split("\n")) { if (!l.trim()) continue; const o=JSON.parse(l); if (o.n_prompt>0 && o.n_gen===0) console.log(o.samples_ts.join(" ")); }' "$d/llama.out" 2>/dev/null \
           || grep -o '"n_prompt": *[1-9][0-9]*, *"n_gen": *0.*"samples_ts": *\[[^]]*\]' "$d/llama.out" | sed 's/.*\[\(.*\)\]/\1/' | tr ',' ' ')
      lg=$(node -e 'for (const l of require("fs").readFileSync(process.argv[1],"utf8").split("\n")) { if (!l.trim()) continue; const o=JSON.parse(l); if (o.n_prompt===0 && o.n_gen>0) console.log(o.samples_ts.join(" ")); }' "$d/llama.out" 2>/dev/null \
           || grep -o '"n_prompt": *0, *"n_gen": *[1-9].*"samples_ts": *\[[^]]*\]' "$d/llama.out" | sed 's/.*\[\(.*\)\]/\1/' | tr ',' ' ')
      lrss=$(maxrss_mib "$d/llama.err"); lanon=$(mem_mib "$d/llama.err" 1); lfile=$(mem_mib "$d/llama.err" 2)
      lver="llama-bench $(basename "$(dirname "$LLAMA_CPP")")"
    else
      for r in $(seq "$REPS"); do
        wait_for_quiet
        loads="$loads $(load1)"
        run_measured "$d/llama.$r.out" "$d/llama.$r.err" node tests/bench/llama_peer.mjs bench -m "$peer_model" \
          -t "$THREADS" --prompt-tokens "$PROMPT" --gen "$GEN" \
          || { tail -3 "$d/llama.$r.err" >&2; echo "bench: llama.cpp failed on $peer_model (log: $d/llama.$r.err)" >&2; lp=""; break; }
        local j; j=$(tail -1 "$d/llama.$r.out")
        local p g
        p=$(node -e 'const o=JSON.parse(process.argv[1]); console.log(o.prefill_tps)' "$j")
        g=$(node -e 'const o=JSON.parse(process.argv[1]); console.log(o.decode_tps)' "$j")
        lp="$lp $p"; lg="$lg $g"; lrss="$lrss $(maxrss_mib "$d/llama.$r.err")"
        cpus="$cpus $(cpu_pct "$d/llama.$r.err" | tr -d %)"
        lanon="$lanon $(mem_mib "$d/llama.$r.err" 1)"; lfile="$lfile $(mem_mib "$d/llama.$r.err" 2)"
        echo "bench: llama run $r: prefill $p t/s, decode $g t/s, rss $(maxrss_mib "$d/llama.$r.err") MiB (anon $(mem_mib "$d/llama.$r.err" 1), file $(mem_mib "$d/llama.$r.err" 2)), cpu $(cpu_pct "$d/llama.$r.err"), load $(echo $loads | awk '{print $NF}')"
      done
      lver="node-llama-cpp $NLC_VERSION"
    fi
    LP=$(echo "$lp" | median); LG=$(echo "$lg" | median); LRSS=$(echo "$lrss" | maxof)
    LANON=$(echo "$lanon" | maxof); LFILE=$(echo "$lfile" | maxof)
  fi
  local LOADMAX CPUMIN; LOADMAX=$(echo "$loads" | maxof)
  CPUMIN=$(echo "$cpus" | tr ' ' '\n' | grep -v '^$' | sort -g | head -1)
  local rp rg
  rp=$(awk -v a="$P" -v b="$LP" 'BEGIN{if(b>0) printf "%.2f", a/b}')
  rg=$(awk -v a="$G" -v b="$LG" 'BEGIN{if(b>0) printf "%.2f", a/b}')

  local long=""
  if [ "$LONG" = 1 ]; then
    wait_for_quiet
    echo "bench: ds4 decode at 1K and 32K context (prefills 32K tokens; slow)"
    ./ds4-bench -m "$model" -t "$THREADS" --ctx-start 1024 --ctx-max 32768 --step-mul 32 --gen-tokens 16 \
      >"$d/ds4.long.out" 2>"$d/ds4.long.err" || die "ds4-bench (long) failed ($d/ds4.long.err)"
    long=$(awk -F, '$1==1024{a=$5} $1==32768{b=$5} END{if(a>0&&b>0) printf "%.2f/%.2f=%.2f", b, a, b/a}' "$d/ds4.long.out")
    echo "bench: decode 32K/1K: $long"
  fi

  cat >"$d/summary.json" <<EOF
{"date":"$DATE","commit":"$COMMIT","cpu":"$CPU","cores":$CORES,"bandwidth_gbs":"$bw","model":"$name","threads":$THREADS,
 "prompt":$PROMPT,"gen":$GEN,"reps":$REPS,"ds4":{"prefill_tps":"$P","decode_tps":"$G","rss_mib":"$RSS","anon_mib":"$ANON","file_mib":"$FILEM","kv_bytes":"$KV",
 "runs_prefill":"${ds4_p# }","runs_decode":"${ds4_g# }"},"roofline":{"bytes_per_token":"$bpt","tps":"$roof_tps","fraction":"$frac"},
 "llama":{"via":"$lver","prefill_tps":"$LP","decode_tps":"$LG","rss_mib":"$LRSS","anon_mib":"$LANON","file_mib":"$LFILE","runs_prefill":"${lp# }","runs_decode":"${lg# }"},
 "ratio":{"prefill":"$rp","decode":"$rg"},"load_max":"$LOADMAX","cpu_min_pct":"$CPUMIN","long":"$long"}
EOF
  echo
  echo "== $name, $THREADS threads ($CPU, bandwidth ${bw:-?} GB/s; load avg max $LOADMAX, lowest CPU share ${CPUMIN:-?}%)"
  printf "   ds4        prefill %8s t/s  decode %7s t/s  rss %6s MiB (anon %s, file %s), KV %s B\n" \
    "$P" "$G" "$RSS" "$ANON" "$FILEM" "$KV"
  printf "   roofline   %s bytes/token -> %s t/s; decode at %s of it\n" "${bpt:-?}" "${roof_tps:-?}" "${frac:-?}"
  [ -n "$LP" ] && printf "   llama.cpp  prefill %8s t/s  decode %7s t/s  rss %6s MiB (anon %s, file %s)  (%s)\n   ds4/llama  prefill x%s  decode x%s\n" \
    "$LP" "$LG" "$LRSS" "$LANON" "$LFILE" "$lver" "$rp" "$rg"
  echo
  local fmt_bw=${bw:-?}
  RESULTS+=("| $DATE | \`$COMMIT\` | $CPU, $CORES cores, ${fmt_bw} GB/s | $name | $THREADS | ${P:--} | ${G:--} | ${roof_tps:--} (${frac:--}) | ${LP:--} | ${LG:--} | ${rp:--} | ${rg:--} | ${RSS:--} (anon ${ANON:--}) / ${LRSS:--} (anon ${LANON:--}) | ${LOADMAX:--} (${CPUMIN:--}%) |")
}

for m in $MODELS; do bench_model "$m"; done

# ---- docs/PERFORMANCE.md: rows between the markers; a row for the same commit, machine,
# model and threads is replaced, others are kept (history) ----
if [ -n "$DOC" ]; then
  [ -f "$DOC" ] || die "$DOC missing (it holds the results table between bench-results markers)"
  grep -q '<!-- bench-results:end -->' "$DOC" || die "$DOC has no <!-- bench-results:end --> marker"
  rows=$(printf '%s\n' "${RESULTS[@]}")
  ROWS="$rows" node -e '
    const fs = require("fs"), doc = process.argv[1];
    let s = fs.readFileSync(doc, "utf8");
    const end = "<!-- bench-results:end -->";
    // commit, machine (without its measured bandwidth), model, threads
    const key = r => { const c = r.split("|").map(x => x.trim());
                       return [c[2], c[3].replace(/, [0-9.?]+ GB\/s$/, ""), c[4], c[5]].join("|"); };
    const fresh = process.env.ROWS.split("\n").filter(Boolean);
    const keys = new Set(fresh.map(key));
    const i = s.indexOf(end);
    let head = s.slice(0, i), tail = s.slice(i);
    const lines = head.split("\n");
    const kept = lines.filter(l => !(l.startsWith("| 20") && keys.has(key(l))));
    let out = kept.join("\n");
    if (!out.endsWith("\n")) out += "\n";
    s = out + fresh.join("\n") + "\n" + tail;
    fs.writeFileSync(doc, s);
  ' "$DOC"
  echo "bench: results written to $DOC (raw runs under $OUTDIR/)"
fi
