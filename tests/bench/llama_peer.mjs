#!/usr/bin/env node
// llama.cpp peer for ds4 (make bench, cross-checks), through node-llama-cpp 3.22.1's prebuilt
// CPU libllama (tag v0.5.0, which has arch deepseek4). See docs/PERFORMANCE.md.
//
//   bench: load MODEL on the CPU with N threads, prefill the same deterministic 512-token
//          stream as ds4-bench (xorshift ids in 16..n_vocab-1), time it, then greedy-decode
//          GEN tokens (EOS id 1 excluded, as ds4-bench) and time them. One JSON line.
//   dump:  for a token list, the top-K raw logits after each position (or only the last) and
//          a greedy continuation with its top-K logits. One JSON document, for cross-checking
//          ds4 against llama.cpp on synthetic models. Precision settings: no flash attention,
//          F32 KV cache (llama.cpp's defaults, FA + F16 KV, cost ~1e-4..1e-3 rel L2).
//
// Usage: node llama_peer.mjs bench -m MODEL [-t N] [--prompt-tokens 512] [--gen 32]
//                                  [--reps 1] [--warmup 0] [--batch 512]
//        node llama_peer.mjs dump  -m MODEL [-t N] (--tokens 1,2,3 | --tokens-file F |
//                                  --random N) [--gen 8] [--top 10] [--all-positions]
//                                  [--fast] [--no-eos-ban] [--logits-out F.f32]
//        --logits-out writes every listed position's full logits as float32 [pos][n_vocab].
// node-llama-cpp is resolved from NODE_PATH or build/peer/node_modules (bench.sh installs it).
import { createRequire } from "node:module";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));

function usage(msg) {
    if (msg) process.stderr.write(`llama_peer: ${msg}\n`);
    process.stderr.write(
        "usage: llama_peer.mjs bench|dump -m MODEL [-t N] [--prompt-tokens N] [--gen N] [--reps N]\n" +
        "       [--warmup N] [--batch N] [--tokens a,b,c | --tokens-file F | --random N] [--top K]\n" +
        "       [--all-positions] [--logits-out F] [--fast] [--no-eos-ban] [--verbose]\n");
    process.exit(2);
}

function parseArgs(argv) {
    const o = { mode: argv[0], model: null, threads: 0, promptTokens: 512, gen: 32, reps: 1,
                warmup: 0, batch: 512, tokens: null, tokensFile: null, random: 0, top: 10,
                allPositions: false, fast: false, eosBan: true, quiet: true, logitsOut: null };
    if (o.mode !== "bench" && o.mode !== "dump") usage("first argument must be bench or dump");
    const num = (f, v) => {
        const x = Number(v);
        if (!Number.isInteger(x) || x < 0) usage(`${f}: expected a non-negative integer, got '${v}'`);
        return x;
    };
    for (let i = 1; i < argv.length; i++) {
        const a = argv[i];
        const next = () => { if (i + 1 >= argv.length) usage(`${a} needs a value`); return argv[++i]; };
        if (a === "-m" || a === "--model") o.model = next();
        else if (a === "-t" || a === "--threads") o.threads = num(a, next());
        else if (a === "--prompt-tokens" || a === "-p") o.promptTokens = num(a, next());
        else if (a === "--gen" || a === "-n") o.gen = num(a, next());
        else if (a === "--reps" || a === "-r") o.reps = Math.max(1, num(a, next()));
        else if (a === "--warmup") o.warmup = num(a, next());
        else if (a === "--batch" || a === "-b") o.batch = Math.max(1, num(a, next()));
        else if (a === "--tokens") o.tokens = next().split(/[\s,]+/).filter(s => s.length).map(s => num(a, s));
        else if (a === "--tokens-file") o.tokensFile = next();
        else if (a === "--random") o.random = num(a, next());
        else if (a === "--top") o.top = num(a, next());
        else if (a === "--all-positions") o.allPositions = true;
        else if (a === "--logits-out") o.logitsOut = next();
        else if (a === "--fast") o.fast = true;
        else if (a === "--no-eos-ban") o.eosBan = false;
        else if (a === "--verbose") o.quiet = false;
        else if (a === "--quiet") o.quiet = true;
        else usage(`unknown option '${a}'`);
    }
    if (!o.model) usage("-m MODEL is required");
    if (!existsSync(o.model)) usage(`${o.model}: no such file`);
    return o;
}

async function importNodeLlamaCpp() {
    const bases = [];
    if (process.env.DS4_PEER_DIR) bases.push(process.env.DS4_PEER_DIR);
    bases.push(path.resolve(here, "../../build/peer"));
    for (const b of bases) {
        const req = createRequire(path.join(path.resolve(b), "package.json"));
        try {
            return await import(pathToFileURL(req.resolve("node-llama-cpp")).href);
        } catch { /* next */ }
    }
    try { return await import("node-llama-cpp"); } catch { /* fall through */ }
    console.error("llama_peer: node-llama-cpp not found; run: npm install --prefix build/peer node-llama-cpp@3.22.1");
    process.exit(3);
}

// ds4-bench's prompt: xorshift64 (13, 7, 17) from 0x9E3779B97F4A7C15, id = 16 + x % (n_vocab - 16).
function benchPrompt(n, nVocab) {
    const M = (1n << 64n) - 1n;
    let x = 0x9E3779B97F4A7C15n;
    const span = BigInt(Math.max(1, nVocab - 16));
    const out = new Array(n);
    for (let i = 0; i < n; i++) {
        x ^= (x << 13n) & M;
        x ^= x >> 7n;
        x ^= (x << 17n) & M;
        out[i] = 16 + Number(x % span);
    }
    return out;
}

function vocabSize(model) {
    const md = model.fileInfo?.metadata;
    const toks = md?.tokenizer?.ggml?.tokens;
    if (Array.isArray(toks) && toks.length > 0) return toks.length;
    const out = model.fileInfo?.fullTensorInfo?.find(t => t.name === "output.weight");
    if (out) return Number(out.dimensions[1]);
    throw new Error("cannot determine n_vocab (no tokenizer.ggml.tokens, no output.weight)");
}

const median = xs => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const now = () => Number(process.hrtime.bigint()) / 1e9;

async function main() {
    const o = parseArgs(process.argv.slice(2));
    const nlc = await importNodeLlamaCpp();
    const { getLlama, LlamaLogLevel, TokenBias } = nlc;
    const threads = o.threads > 0 ? o.threads : undefined;
    const llama = await getLlama({ gpu: false, build: "never", maxThreads: o.threads > 0 ? o.threads : 0,
                                   logLevel: o.quiet ? LlamaLogLevel.error : LlamaLogLevel.info });
    const tl0 = now();
    const model = await llama.loadModel({ modelPath: o.model, gpuLayers: 0, useMmap: true });
    const loadS = now() - tl0;
    const nVocab = vocabSize(model);
    const info = {
        engine: "llama.cpp",
        via: "node-llama-cpp@3.22.1",
        llama_cpp_release: llama.llamaCppRelease?.release ?? null,
        cpu_features: [...llama.systemInfo.matchAll(/(\w+) = 1/g)].map(m => m[1]).join(","),
        model: path.basename(o.model),
        threads: o.threads || llama.cpuMathCores,
        n_vocab: nVocab,
    };
    const eosBan = o.eosBan ? [1] : [];

    if (o.mode === "bench") {
        const prompt = benchPrompt(o.promptTokens, nVocab);
        const ctx = await model.createContext({
            contextSize: o.promptTokens + o.gen + 1, batchSize: Math.min(o.batch, o.promptTokens + o.gen + 1),
            sequences: 1, threads: threads ? { ideal: threads, min: threads } : 0,
        });
        const seq = ctx.getSequence();
        const bias = new TokenBias(model.tokenizer);
        for (const t of eosBan) bias.set(t, "never");
        const reps = [];
        for (let r = 0; r < o.warmup + o.reps; r++) {
            await seq.clearHistory();
            const it = seq.evaluate(prompt, { temperature: 0, tokenBias: bias });
            const t0 = now();
            let res = await it.next();          // prefill of the whole prompt + first sample
            const tp = now() - t0;
            const gen = [res.value];
            const t1 = now();
            for (let g = 0; g < o.gen; g++) {   // o.gen single-token decodes, as ds4-bench
                res = await it.next();
                if (res.done) throw new Error("generation ended early");
                gen.push(res.value);
            }
            const tg = now() - t1;
            await it.return();
            if (r >= o.warmup)
                reps.push({ prefill_tps: o.promptTokens / tp, decode_tps: o.gen / tg, first_tokens: gen.slice(0, 8) });
        }
        console.log(JSON.stringify({
            ...info, load_s: +loadS.toFixed(3), prompt_tokens: o.promptTokens, gen_tokens: o.gen,
            prefill_tps: +median(reps.map(r => r.prefill_tps)).toFixed(2),
            decode_tps: +median(reps.map(r => r.decode_tps)).toFixed(3),
            reps: reps.map(r => ({ prefill_tps: +r.prefill_tps.toFixed(2), decode_tps: +r.decode_tps.toFixed(3) })),
            first_tokens: reps[0].first_tokens,
        }));
        await ctx.dispose();
    } else {
        let tokens = o.tokens;
        if (o.tokensFile) tokens = readFileSync(o.tokensFile, "utf8").split(/[\s,]+/).filter(s => s.length).map(Number);
        if (!tokens && o.random > 0) tokens = benchPrompt(o.random, nVocab);
        if (!tokens || tokens.length === 0) usage("dump needs --tokens, --tokens-file or --random N");
        for (const t of tokens) if (!(t >= 0 && t < nVocab)) usage(`token ${t} outside 0..${nVocab - 1}`);
        const ctx = await model.createContext({
            contextSize: tokens.length + o.gen + 1, batchSize: Math.min(512, tokens.length + o.gen + 1), sequences: 1,
            threads: threads ? { ideal: threads, min: threads } : 0,
            flashAttention: o.fast ? "auto" : false,
            ...(o.fast ? {} : { experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32" }),
        });
        const seq = ctx.getSequence();
        const bias = new TokenBias(model.tokenizer);
        for (const t of eosBan) bias.set(t, "never");
        const want = { token: true, logits: o.logitsOut ? true : { filter: { includeTop: o.top, includeSelected: true } },
                       options: { temperature: 0, tokenBias: bias } };
        const asTop = m => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, o.top).map(([t, l]) => [t, +l.toPrecision(7)]);
        const input = tokens.map((t, i) => (o.allPositions || i === tokens.length - 1) ? [t, { generateNext: want }] : t);
        const out = await seq.controlledEvaluate(input);
        const positions = [];
        const rows = [];
        out.forEach((r, i) => { if (r?.next) rows.push(r.next.logits); });
        out.forEach((r, i) => { if (r?.next) positions.push({ pos: i, token: tokens[i], greedy: r.next.token, top: asTop(r.next.logits) }); });
        let next = out[tokens.length - 1].next.token;
        const greedy = [];
        for (let g = 0; g < o.gen; g++) {
            greedy.push(next);
            const [r] = await seq.controlledEvaluate([[next, { generateNext: want }]]);
            const top = asTop(r.next.logits);
            rows.push(r.next.logits);
            positions.push({ pos: tokens.length + g, token: next, greedy: r.next.token, top });
            next = r.next.token;
        }
        if (o.logitsOut) {  // float32 rows [position][n_vocab], positions as listed in the JSON
            const buf = new Float32Array(rows.length * nVocab);
            rows.forEach((m, i) => { for (const [t, l] of m) buf[i * nVocab + t] = l; });
            writeFileSync(o.logitsOut, Buffer.from(buf.buffer));
        }
        console.log(JSON.stringify({ ...info, precise: !o.fast, logits_out: o.logitsOut, eos_banned: o.eosBan, n_tokens: tokens.length,
                                     tokens_head: tokens.slice(0, 16), greedy, positions }));
        await ctx.dispose();
    }
    await model.dispose();
    await llama.dispose();
}

main().catch(e => { console.error(`llama_peer: ${e?.message ?? e}`); process.exit(1); });
